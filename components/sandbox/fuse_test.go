package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"loom/components/ramfs"
	"loom/ns"
)

// The test binary is re-executed as a helper in new user and mount
// namespaces: only there may it mount, so the host's mounts never change.
const (
	helperEnv = "LOOM_SANDBOX_TEST_HELPER"
	dirEnv    = "LOOM_SANDBOX_TEST_DIR"
	mntnsEnv  = "LOOM_SANDBOX_TEST_MNTNS"
)

func TestMain(m *testing.M) {
	Init()
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "fuse":
		out := fuseHelper(os.Getenv(dirEnv))
		json.NewEncoder(os.Stdout).Encode(out)
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// inNewNamespaces says why the helper may not mount, or nil when it runs
// in a user namespace of its own and a mount namespace not its parent's.
func inNewNamespaces() error {
	m, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return err
	}
	if strings.Join(strings.Fields(string(m)), " ") == "0 0 4294967295" {
		return errors.New("in the initial user namespace")
	}
	mnt, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return err
	}
	if mnt == os.Getenv(mntnsEnv) {
		return errors.New("in the parent's mount namespace")
	}
	return nil
}

// put writes data to a new file at name of fsys through the seam.
func put(fsys ns.FS, name string, data string) error {
	ctx := context.Background()
	root, err := fsys.Attach(ctx, "glenda", "")
	if err != nil {
		return err
	}
	defer root.Clunk()
	elems := strings.Split(name, "/")
	dir := root
	if len(elems) > 1 {
		_, d, err := root.Walk(ctx, elems[:len(elems)-1])
		if err != nil || d == nil {
			return fmt.Errorf("walk %s: %v", name, err)
		}
		defer d.Clunk()
		dir = d
	}
	perm, mode := ns.Perm(0644), uint8(ns.OWRITE)
	if data == "/" {
		perm, mode = ns.DMDIR|0755, ns.OREAD
	}
	f, _, err := dir.(ns.Creater).Create(ctx, elems[len(elems)-1], perm, mode)
	if err != nil {
		return err
	}
	defer f.Clunk()
	if data != "/" {
		_, err = f.Write(ctx, []byte(data), 0)
	}
	return err
}

// get reads a file of fsys through the seam.
func get(fsys ns.FS, name string) (string, error) {
	b, err := fs.ReadFile(ns.IOFS(context.Background(), fsys, "glenda", ""), name)
	return string(b), err
}

func qidPath(fsys ns.FS, name string) uint64 {
	ctx := context.Background()
	root, err := fsys.Attach(ctx, "glenda", "")
	if err != nil {
		return 0
	}
	defer root.Clunk()
	qs, f, err := root.Walk(ctx, strings.Split(name, "/"))
	if err != nil || f == nil {
		return 0
	}
	f.Clunk()
	return qs[len(qs)-1].Path
}

// errText is what a test compares: "ok", or the errno's name.
func errText(err error) string {
	if err == nil {
		return "ok"
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		switch e {
		case syscall.ENOENT:
			return "ENOENT"
		case syscall.EROFS:
			return "EROFS"
		case syscall.EACCES:
			return "EACCES"
		case syscall.EXDEV:
			return "EXDEV"
		case syscall.ENOTEMPTY:
			return "ENOTEMPTY"
		}
		return e.Error()
	}
	return err.Error()
}

// fuseHelper mounts three views of one ramfs under dir (read-write,
// read-only, with /secret hidden), works through them with the os
// package, and returns what it saw by name.
func fuseHelper(dir string) map[string]string {
	out := map[string]string{}
	if err := inNewNamespaces(); err != nil {
		out["skip"] = "refusing to mount: " + err.Error()
		return out
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		out["skip"] = "making mounts private: " + err.Error()
		return out
	}
	r := ramfs.New(ramfs.Owner("glenda"))
	for _, p := range [][2]string{{"hello", "hello, world\n"}, {"secret", "s3cret"}, {"sub", "/"}, {"sub/a", "aa"}} {
		if err := put(r, p[0], p[1]); err != nil {
			out["setup"] = err.Error()
			return out
		}
	}
	views := []struct {
		name string
		fsys ns.FS
	}{{"rw", r}, {"ro", ns.ReadOnly(r)}, {"hid", ns.Hide(r, "/secret")}}
	for _, v := range views {
		mp := filepath.Join(dir, v.name)
		if err := os.Mkdir(mp, 0755); err != nil {
			out["setup"] = err.Error()
			return out
		}
		unmount, err := ServeFUSE(mp, v.fsys, "glenda", FSName("loom-test"))
		if err != nil {
			out["skip"] = "cannot mount FUSE here: " + err.Error()
			return out
		}
		defer func() {
			if err := unmount(); err != nil {
				out["unmount "+v.name] = err.Error()
			}
		}()
	}
	at := func(p string) string { return filepath.Join(dir, p) }
	read := func(key, p string) {
		b, err := os.ReadFile(at(p))
		if err != nil {
			out[key] = errText(err)
			return
		}
		out[key] = string(b)
	}
	do := func(key string, err error) { out[key] = errText(err) }

	read("rw read", "rw/hello")
	read("rw read missing", "rw/nothere")
	do("rw write new", os.WriteFile(at("rw/new"), []byte("from linux"), 0644))
	s, err := get(r, "new")
	out["rw new via seam"] = s + " " + errText(err)
	do("rw overwrite", os.WriteFile(at("rw/hello"), []byte("hi"), 0644))
	s, err = get(r, "hello")
	out["rw overwrite via seam"] = s + " " + errText(err)
	if ents, err := os.ReadDir(at("rw")); err != nil {
		out["rw readdir"] = errText(err)
	} else {
		var names []string
		for _, e := range ents {
			n := e.Name()
			if e.IsDir() {
				n += "/"
			}
			names = append(names, n)
		}
		sort.Strings(names)
		out["rw readdir"] = strings.Join(names, " ")
	}
	if fi, err := os.Stat(at("rw/sub/a")); err != nil {
		out["rw ino"] = errText(err)
	} else {
		out["rw ino"] = fmt.Sprint(fi.Sys().(*syscall.Stat_t).Ino == qidPath(r, "sub/a"), " ", fi.Size(), " ", fi.Mode())
	}
	do("rw mkdir", os.Mkdir(at("rw/d"), 0755))
	do("rw create in dir", os.WriteFile(at("rw/d/f"), []byte("x"), 0600))
	do("rw rename", os.Rename(at("rw/d/f"), at("rw/d/g")))
	read("rw read renamed", "rw/d/g")
	read("rw read old name", "rw/d/f")
	do("rw rename across", os.Rename(at("rw/d/g"), at("rw/g")))
	do("rw rmdir full", syscall.Rmdir(at("rw/d")))
	do("rw unlink", os.Remove(at("rw/d/g")))
	do("rw rmdir", os.Remove(at("rw/d")))
	do("rw truncate", os.Truncate(at("rw/new"), 4))
	s, err = get(r, "new")
	out["rw truncate via seam"] = s + " " + errText(err)
	if f, err := os.OpenFile(at("rw/new"), os.O_WRONLY|os.O_APPEND, 0); err != nil {
		out["rw append"] = errText(err)
	} else {
		_, err := f.WriteString("+more")
		f.Close()
		s, _ := get(r, "new")
		out["rw append"] = errText(err) + " " + s
	}

	read("ro read", "ro/secret")
	do("ro write", os.WriteFile(at("ro/hello"), []byte("no"), 0644))
	do("ro create", os.WriteFile(at("ro/other"), []byte("no"), 0644))
	do("ro mkdir", os.Mkdir(at("ro/x"), 0755))
	do("ro remove", os.Remove(at("ro/sub/a")))
	do("ro truncate", os.Truncate(at("ro/hello"), 0))
	s, _ = get(r, "hello")
	out["ro unchanged via seam"] = s

	read("hid read hidden", "hid/secret")
	_, err = os.Stat(at("hid/secret"))
	do("hid stat hidden", err)
	read("hid read other", "hid/sub/a")
	if ents, err := os.ReadDir(at("hid")); err == nil {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		out["hid readdir"] = strings.Join(names, " ")
	}
	return out
}

// runHelper runs the test binary as helper mode in new user and mount
// namespaces and decodes what it reports.
func runHelper(t *testing.T, mode string, dir string) map[string]string {
	t.Helper()
	mnt, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Skipf("no mount namespaces here: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, dirEnv+"="+dir, mntnsEnv+"="+mnt)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		Pdeathsig:   syscall.SIGKILL,
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Skipf("kernel refuses new user and mount namespaces: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper %s: %v\nstderr: %s", mode, err, stderr.String())
	}
	out := map[string]string{}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("helper %s output %q: %v\nstderr: %s", mode, stdout.String(), err, stderr.String())
	}
	if s, ok := out["skip"]; ok {
		t.Skipf("helper %s: %s", mode, s)
	}
	return out
}

func TestServeFUSE(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("no FUSE device: %v", err)
	}
	out := runHelper(t, "fuse", t.TempDir())
	for _, k := range []string{"setup", "unmount rw", "unmount ro", "unmount hid"} {
		if s, ok := out[k]; ok {
			t.Fatalf("%s: %s", k, s)
		}
	}
	tests := []struct {
		key, want string
	}{
		{"rw read", "hello, world\n"},
		{"rw read missing", "ENOENT"},
		{"rw write new", "ok"},
		{"rw new via seam", "from linux ok"},
		{"rw overwrite", "ok"},
		{"rw overwrite via seam", "hi ok"},
		{"rw readdir", "hello new secret sub/"},
		{"rw ino", "true 2 -rw-r--r--"},
		{"rw mkdir", "ok"},
		{"rw create in dir", "ok"},
		{"rw rename", "ok"},
		{"rw read renamed", "x"},
		{"rw read old name", "ENOENT"},
		{"rw rename across", "EXDEV"},
		{"rw rmdir full", "ENOTEMPTY"},
		{"rw unlink", "ok"},
		{"rw rmdir", "ok"},
		{"rw truncate", "ok"},
		{"rw truncate via seam", "from ok"},
		{"rw append", "ok from+more"},
		{"ro read", "s3cret"},
		{"ro write", "EROFS"},
		{"ro create", "EROFS"},
		{"ro mkdir", "EROFS"},
		{"ro remove", "EROFS"},
		{"ro truncate", "EROFS"},
		{"ro unchanged via seam", "hi"},
		{"hid read hidden", "ENOENT"},
		{"hid stat hidden", "ENOENT"},
		{"hid read other", "aa"},
		{"hid readdir", "hello new sub"},
	}
	for _, tt := range tests {
		if got, ok := out[tt.key]; !ok || got != tt.want {
			t.Errorf("%s = %q; want %q", tt.key, got, tt.want)
		}
	}
}

func TestErrno(t *testing.T) {
	tests := []struct {
		err  error
		want syscall.Errno
	}{
		{nil, 0},
		{ns.ErrNotExist, syscall.ENOENT},
		{ns.ErrPerm, syscall.EACCES},
		{fmt.Errorf("walk: %w", ns.ErrExist), syscall.EEXIST},
		{errors.New("directory not empty"), syscall.ENOTEMPTY},
		{syscall.ENOSPC, syscall.ENOSPC},
		{errors.New("something else"), syscall.EIO},
	}
	for _, tt := range tests {
		if got := errno(tt.err); got != tt.want {
			t.Errorf("errno(%v) = %v; want %v", tt.err, got, tt.want)
		}
	}
}
