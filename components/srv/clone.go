package srv

import (
	"errors"

	"loom/ns"
)

// CopyTo posts in dst every entry of fs, as it is now: the same local
// servers and the same addresses, with the same owners and modes. The
// servers themselves are shared, not copied: a clone of a system reaches
// what the original had posted. Names dst has already fail.
func (fs *FS) CopyTo(dst *FS) error {
	type post struct {
		name, uid, addr string
		perm            ns.Perm
		e               *entry
	}
	fs.mu.Lock()
	var ps []post
	for name, e := range fs.entries {
		ps = append(ps, post{name: name, uid: e.node.Uid, perm: e.node.Mode, e: e})
	}
	fs.mu.Unlock()
	var errs []error
	for _, p := range ps {
		p.e.mu.Lock()
		local, addr := p.e.local, p.e.addr
		p.e.mu.Unlock()
		if _, err := dst.add(p.name, p.uid, p.perm, local, addr); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
