package ns_test

import (
	"errors"
	"io/fs"
	"testing"

	"loom/ns"
)

// TestLock: after Lock, the binds and mounts made before it cannot be
// taken out or replaced, in the namespace or its forks; new ones made
// around them can.
func TestLock(t *testing.T) {
	root := ram(t, "root", "/a/", "/b/", "/c/", "/d/")
	over := ram(t, "over", "/x")
	nsp := build(t, map[string]ns.FS{"root": root, "over": over}, "mount -c root /\nmount over /a\n")
	nsp.Lock()
	fork := nsp.Fork()
	for _, n := range []*ns.Namespace{nsp, fork} {
		for _, tt := range []struct {
			what string
			err  error
		}{
			{"unmount /a", n.Unmount("", "/a")},
			{"unmount over /a", n.Unmount("/a", "/a")},
			{"unmount /", n.Unmount("", "/")},
			{"bind /b /a", n.Bind("/b", "/a", ns.MREPL)},
			{"mount over /", n.Mount(over, "/", ns.MREPL, "")},
		} {
			if !errors.Is(tt.err, fs.ErrPermission) {
				t.Errorf("%s after Lock = %v; want permission denied", tt.what, tt.err)
			}
		}
		if got, err := cat(n, "/a/x"); err != nil || got != "over/x" {
			t.Errorf("cat /a/x after the refusals = %q, %v; want the locked mount's file", got, err)
		}
		// Around the locked mount, binds come and go as ever.
		if err := n.Bind("/b", "/a", ns.MBEFORE); err != nil {
			t.Errorf("bind -b /b /a after Lock = %v; want it made", err)
		}
		if err := n.Unmount("/b", "/a"); err != nil {
			t.Errorf("unmount /b /a after Lock = %v; want it undone", err)
		}
		if err := n.Bind("/c", "/d", ns.MREPL); err != nil {
			t.Errorf("bind /c /d after Lock = %v; want it made", err)
		}
		if err := n.Unmount("", "/d"); err != nil {
			t.Errorf("unmount /d after Lock = %v; want it undone", err)
		}
	}
}
