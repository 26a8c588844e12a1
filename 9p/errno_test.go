package ninep

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"testing"

	"github.com/hugelgupf/p9/linux"

	"loom/ns"
)

func TestErrno(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want linux.Errno
	}{
		{ns.ErrNotExist, linux.ENOENT},
		{fmt.Errorf("walk: %w", ns.ErrNotExist), linux.ENOENT},
		{fs.ErrNotExist, linux.ENOENT},
		{&fs.PathError{Op: "open", Path: "x", Err: os.ErrPermission}, linux.EACCES},
		{ns.ErrPerm, linux.EACCES},
		{ns.ErrExist, linux.EEXIST},
		{ns.ErrNotDir, linux.ENOTDIR},
		{ns.ErrIsDir, linux.EISDIR},
		{ns.ErrNotEmpty, linux.ENOTEMPTY},
		{ns.ErrInvalid, linux.EINVAL},
		{ns.ErrInUse, linux.EBUSY},
		{ns.ErrCrossDev, linux.EXDEV},
		{ns.ErrNotSupp, linux.EOPNOTSUPP},
		{ns.ErrInterrupt, linux.EINTR},
		{context.Canceled, linux.EINTR},
		{ns.ErrClosed, linux.EIO},
		{ns.ErrNameTooBig, linux.ENAMETOOLONG},
		{syscall.ENOSPC, linux.ENOSPC},
		{linux.EROFS, linux.EROFS},
		{errors.New("something else"), linux.EIO},
	} {
		if got := toErrno(tc.err); got != tc.want {
			t.Errorf("toErrno(%v) = %v; want %v", tc.err, got, tc.want)
		}
	}
}

// TestErrnoRoundTrip checks that the seam's errors that have an errno of
// their own come back as themselves from the other side of the wire.
func TestErrnoRoundTrip(t *testing.T) {
	for _, err := range []*ns.Error{
		ns.ErrNotExist, ns.ErrPerm, ns.ErrExist, ns.ErrNotDir, ns.ErrIsDir,
		ns.ErrNotEmpty, ns.ErrInvalid, ns.ErrInUse, ns.ErrCrossDev,
		ns.ErrNotSupp, ns.ErrInterrupt, ns.ErrNameTooBig,
	} {
		if got := fromErrno(toErrno(err)); got != err {
			t.Errorf("fromErrno(toErrno(%v)) = %v; want %v", err, got, err)
		}
	}
	if got := fromErrno(linux.ENOSPC); got.Error() != linux.ENOSPC.Error() {
		t.Errorf("fromErrno(ENOSPC) = %q; want %q", got, linux.ENOSPC.Error())
	}
	if !errors.Is(fromErrno(linux.ENOENT), fs.ErrNotExist) {
		t.Errorf("fromErrno(ENOENT) is not fs.ErrNotExist")
	}
	if err := hungup(errors.New("EOF")); !errors.Is(err, fs.ErrClosed) || ns.ErrorText(err) != ns.ErrClosed.Error() {
		t.Errorf("hungup(EOF) = %v, text %q; want fs.ErrClosed", err, ns.ErrorText(err))
	}
}

func TestIDMap(t *testing.T) {
	m := newIDMap("glenda")
	if got, want := m.userID("glenda"), uint32(os.Getuid()); got != want {
		t.Errorf("userID(glenda) = %d; want %d", got, want)
	}
	if got, want := m.groupID("glenda"), uint32(os.Getgid()); got != want {
		t.Errorf("groupID(glenda) = %d; want %d", got, want)
	}
	if got := m.userID(""); got != nobodyID {
		t.Errorf("userID(\"\") = %d; want %d", got, nobodyID)
	}
	seen := map[uint32]string{}
	for _, name := range []string{"loom", "none", "bootes", "adm", "sys", "upas"} {
		id := m.userID(name)
		if id < 1<<20 || id >= 1<<31 {
			t.Errorf("userID(%s) = %d; want in [1<<20, 1<<31)", name, id)
		}
		if id != newIDMap("other").userID(name) {
			t.Errorf("userID(%s) differs between maps", name)
		}
		if other, ok := seen[id]; ok {
			t.Errorf("userID(%s) = userID(%s) = %d", name, other, id)
		}
		seen[id] = name
	}
}

// TestMsgWriter checks that pieces of messages become one write per
// batch of whole messages, and that each message is counted.
func TestMsgWriter(t *testing.T) {
	var writes [][]byte
	sent := 0
	w := &msgWriter{w: writerFunc(func(p []byte) (int, error) {
		writes = append(writes, append([]byte(nil), p...))
		return len(p), nil
	}), sent: func(n int) { sent += n }}
	msg := func(body string) []byte {
		b := []byte{byte(4 + len(body)), 0, 0, 0}
		return append(b, body...)
	}
	m1, m2 := msg("abcdefg"), msg("hij")
	k := msg("k")
	pieces := [][]byte{m1[:2], m1[2:7], m1[7:], append(append([]byte(nil), m2...), k[:3]...), k[3:]}
	// What must have been written after each piece: nothing of a
	// message until it is whole.
	wantAfter := []int{0, 0, len(m1), len(m1), len(m1) + len(m2) + len(k)}
	for i, p := range pieces {
		if n, err := w.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write(% x) = %d, %v", p, n, err)
		}
		n := 0
		for _, p := range writes {
			n += len(p)
		}
		if n != wantAfter[i] {
			t.Errorf("after piece %d, %d bytes written; want %d", i, n, wantAfter[i])
		}
	}
	var all []byte
	for _, p := range writes {
		all = append(all, p...)
	}
	want := append(append(append([]byte(nil), m1...), m2...), k...)
	if string(all) != string(want) || sent != 3 {
		t.Errorf("wrote % x, %d messages; want % x, 3", all, sent, want)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestCleanPath(t *testing.T) {
	for _, tc := range []struct {
		dir, names []string
		want       [][]string
	}{
		{nil, []string{"a", "b"}, [][]string{{"a"}, {"a", "b"}}},
		{[]string{"d"}, []string{"..", ".."}, [][]string{{}, {}}},
		{[]string{"d"}, []string{"e", "..", "f"}, [][]string{{"d", "e"}, {"d"}, {"d", "f"}}},
	} {
		got := cleanPath(tc.dir, tc.names)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("cleanPath(%q, %q) = %q; want %q", tc.dir, tc.names, got, tc.want)
		}
	}
	// The paths are new slices: appending to one leaves dir alone.
	dir := make([]string, 1, 4)
	dir[0] = "d"
	p := cleanPath(dir, []string{"e"})
	_ = append(p[0], "x")
	q := cleanPath(dir, []string{"f"})
	if q[0][1] != "f" || p[0][1] != "e" {
		t.Errorf("cleanPath shares storage: %q, %q", p, q)
	}
}

func TestErrorText(t *testing.T) {
	for _, tc := range []struct {
		text string
		is   error
	}{
		{"file does not exist", fs.ErrNotExist},
		{"file not found", fs.ErrNotExist},
		{"No such file or directory", fs.ErrNotExist},
		{"file exists", fs.ErrExist},
		{"permission denied", fs.ErrPermission},
		{"directory not empty", ns.ErrNotEmpty},
	} {
		err := errorText(tc.text)
		if !errors.Is(err, tc.is) || err.Error() != tc.text {
			t.Errorf("errorText(%q) = %v; want an error reading the same that is %v", tc.text, err, tc.is)
		}
	}
	if err := errorText("mumble"); err.Error() != "mumble" || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errorText(mumble) = %v; want plain mumble", err)
	}
	if got := ns.ErrorText(errorText("file not found")); got != ns.ErrNotExist.Error() {
		t.Errorf("ns.ErrorText(errorText(file not found)) = %q; want loom's %q", got, ns.ErrNotExist.Error())
	}
}
