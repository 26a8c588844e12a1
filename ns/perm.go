package ns

// OpenPerm gives the permission an open mode asks for: a mask of DMREAD,
// DMWRITE and DMEXEC (OTRUNC needs write).
func OpenPerm(mode uint8) Perm {
	var p Perm
	switch mode & 3 {
	case OREAD:
		p = DMREAD
	case OWRITE:
		p = DMWRITE
	case ORDWR:
		p = DMREAD | DMWRITE
	case OEXEC:
		p = DMEXEC
	}
	if mode&OTRUNC != 0 {
		p |= DMWRITE
	}
	return p
}

// Allowed reports whether user may access a file of mode, owned by uid
// and group gid, as want asks (a mask of DMREAD, DMWRITE, DMEXEC), by
// Plan 9's rule: the other bits grant to everyone, the owner bits to the
// owner, the group bits to a member of the group, which here is the user
// of the group's own name.
func Allowed(mode Perm, uid, gid, user string, want Perm) bool {
	switch {
	case mode&want == want:
		return true
	case user == uid && (mode>>6)&want == want:
		return true
	case user == gid && (mode>>3)&want == want:
		return true
	}
	return false
}
