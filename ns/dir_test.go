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
