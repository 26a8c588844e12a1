package ns

import "testing"

func TestPermString(t *testing.T) {
	for _, tt := range []struct {
		p    Perm
		want string
	}{
		{0o644, "---rw-r--r--"[1:]},
		{DMDIR | 0o755, "d-rwxr-xr-x"},
		{DMAPPEND | DMEXCL | 0o600, "alrw-------"},
		{0, "-----------"},
	} {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("Perm(%#o).String() = %q; want %q", uint32(tt.p), got, tt.want)
		}
	}
}

func TestSplitPath(t *testing.T) {
	for _, tt := range []struct {
		p    string
		want string
	}{
		{"/", ""},
		{"", ""},
		{"/a//b/./c/", "a b c"},
		{"a/../b", "a .. b"},
	} {
		got := ""
		for i, n := range SplitPath(tt.p) {
			if i > 0 {
				got += " "
			}
			got += n
		}
		if got != tt.want {
			t.Errorf("SplitPath(%q) = %q; want %q", tt.p, got, tt.want)
		}
	}
}

func TestAllowed(t *testing.T) {
	for _, tt := range []struct {
		mode           Perm
		uid, gid, user string
		want           Perm
		ok             bool
	}{
		{0o644, "a", "g", "a", DMREAD | DMWRITE, true},
		{0o644, "a", "g", "b", DMWRITE, false},
		{0o644, "a", "g", "b", DMREAD, true},
		{0o060, "a", "g", "g", DMREAD | DMWRITE, true},
		{0o060, "a", "g", "a", DMREAD, false},
		{0o700, "a", "g", "b", DMEXEC, false},
		{0o001, "a", "g", "b", DMEXEC, true},
	} {
		if got := Allowed(tt.mode, tt.uid, tt.gid, tt.user, tt.want); got != tt.ok {
			t.Errorf("Allowed(%v, %q, %q, %q, %#o) = %v; want %v", tt.mode, tt.uid, tt.gid, tt.user, uint32(tt.want), got, tt.ok)
		}
	}
	for mode, want := range map[uint8]Perm{OREAD: DMREAD, OWRITE: DMWRITE, ORDWR: DMREAD | DMWRITE, OEXEC: DMEXEC, OREAD | OTRUNC: DMREAD | DMWRITE} {
		if got := OpenPerm(mode); got != want {
			t.Errorf("OpenPerm(%#x) = %#o; want %#o", mode, uint32(got), uint32(want))
		}
	}
}
