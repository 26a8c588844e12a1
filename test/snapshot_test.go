package test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"9fans.net/go/plan9"

	"loom/components/proc"
	"loom/components/system"
	"loom/ns"
)

// The snapshot tests run this test binary again in a role, named by
// snapRole: a saver that saves a system to a file over and over, until
// it is killed; a second loom that loads a file and reports what it
// finds.
const snapRole = "LOOM_SNAPSHOT_ROLE"

// snapUser is the user of the tests' systems.
const snapUser = "glenda"

// nsWrite makes the file p of fsys hold data, creating it if need be.
func nsWrite(ctx context.Context, fsys ns.FS, p, data string) error {
	root, err := fsys.Attach(ctx, snapUser, "")
	if err != nil {
		return err
	}
	defer root.Clunk()
	f, err := ns.WalkPath(ctx, root, p)
	if errors.Is(err, ns.ErrNotExist) {
		dir, err := ns.WalkPath(ctx, root, filepath.Dir(p))
		if err != nil {
			return err
		}
		defer dir.Clunk()
		nf, _, err := dir.(ns.Creater).Create(ctx, filepath.Base(p), 0o666, ns.OWRITE)
		if err != nil {
			return err
		}
		defer nf.Clunk()
		_, err = nf.Write(ctx, []byte(data), 0)
		return err
	}
	if err != nil {
		return err
	}
	defer f.Clunk()
	if _, err := f.Open(ctx, ns.OWRITE|ns.OTRUNC); err != nil {
		return err
	}
	_, err = f.Write(ctx, []byte(data), 0)
	return err
}

// nsRead reads the file p of fsys.
func nsRead(ctx context.Context, fsys ns.FS, p string) (string, error) {
	b, err := readAs(ctx, fsys, snapUser, p)
	return string(b), err
}

// bigData is what the saver's /tmp/big holds: size bytes of a pattern.
func bigData(size int) string { return string(pattern(size, 7)) }

// savedSystem makes a system web holding /tmp/big (size bytes), a
// variable and a host process, started in the host's temporary
// directory with the system's environment.
func savedSystem(tb testing.TB, size int) (*system.Systems, *system.System) {
	tb.Helper()
	reg := system.New(system.User(snapUser))
	sys, err := reg.New("web")
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	if err := nsWrite(ctx, sys.NS, "/tmp/big", bigData(size)); err != nil {
		tb.Fatal(err)
	}
	if err := sys.Def.Env.Vars.Set("site", "web"); err != nil {
		tb.Fatal(err)
	}
	if _, err := sys.Def.Env.Proc.Start(ctx, []string{"sleep", "3600"}, proc.StartOptions{Name: "sleeper", Env: sys.Def.Env.Environ(), Dir: os.TempDir()}); err != nil {
		tb.Fatal(err)
	}
	return reg, sys
}

// TestSnapshotRole is not a test: it is the code of the roles the other
// tests run this binary in, and skips when run as a test.
func TestSnapshotRole(t *testing.T) {
	role := os.Getenv(snapRole)
	if role == "" {
		t.Skip("run by the snapshot tests only")
	}
	ctx := context.Background()
	switch role, arg, _ := strings.Cut(role, " "); role {
	case "saver":
		// Save generation after generation to arg, telling stdout
		// each one saved, until killed.
		reg, sys := savedSystem(t, 8<<20)
		defer reg.Close()
		for gen := 1; ; gen++ {
			if err := nsWrite(ctx, sys.NS, "/tmp/gen", strconv.Itoa(gen)); err != nil {
				t.Fatal(err)
			}
			if err := reg.Save(ctx, nil, "web", arg); err != nil {
				t.Fatal(err)
			}
			fmt.Printf("saved %d\n", gen)
		}
	case "loader":
		// Load arg as a second loom would, and print what it holds.
		reg := system.New(system.User(snapUser))
		defer reg.Close()
		sys, err := reg.Load(ctx, nil, arg, "moved")
		if err != nil {
			t.Fatal(err)
		}
		a, _ := nsRead(ctx, sys.NS, "/tmp/a")
		big, _ := nsRead(ctx, sys.NS, "/tmp/big")
		site, _ := sys.Def.Env.Vars.Get("site")
		var ps []string
		for _, in := range sys.Def.Env.Proc.List() {
			ps = append(ps, in.Name+":"+proc.JoinArgs(in.Args)+":"+in.State)
		}
		fmt.Printf("a=%s\nbig=%d\nsite=%s\nprocs=%s\n", a, len(big), site, strings.Join(ps, ","))
		// What each process was started from: its own environment
		// and directory, not the system's as they are now.
		for _, d := range sys.Def.Env.Proc.Defs() {
			fmt.Printf("def=%s dir=%s env=%s\n", d.Name, d.Dir, strings.Join(d.Env, " "))
		}
	default:
		t.Fatalf("unknown role %q", role)
	}
}

// role starts this binary in role with arg.
func role(t *testing.T, role, arg string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestSnapshotRole$", "-test.v=false")
	cmd.Env = append(os.Environ(), snapRole+"="+role+" "+arg)
	cmd.Stderr = os.Stderr
	return cmd
}

// TestSaveKilled kills a saver at random points of its saves, again and
// again, and checks each time that the file holds a whole image of a
// generation it saved, the last it reported or the one after, never a
// part of one.
func TestSaveKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("saves many images")
	}
	file := filepath.Join(t.TempDir(), "web.img")
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 8))
	last := 0
	for round := range 6 {
		cmd := role(t, "saver", file)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		// Let it save once whole, then kill it anywhere in the
		// saves that follow.
		if !lines.Scan() {
			cmd.Wait()
			t.Fatalf("round %d: the saver saved nothing", round)
		}
		reported := 0
		fmt.Sscanf(lines.Text(), "saved %d", &reported)
		time.Sleep(time.Duration(r.IntN(40)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		for lines.Scan() {
			fmt.Sscanf(lines.Text(), "saved %d", &reported)
		}
		cmd.Wait()

		sn, err := system.ReadImage(file, nil)
		if err != nil {
			t.Fatalf("round %d: the file after the kill: %v", round, err)
		}
		reg := system.New(system.User(snapUser))
		sys, err := reg.Load(context.Background(), nil, file, "")
		if err != nil {
			reg.Close()
			t.Fatalf("round %d: load = %v", round, err)
		}
		gs, _ := nsRead(context.Background(), sys.NS, "/tmp/gen")
		big, _ := nsRead(context.Background(), sys.NS, "/tmp/big")
		reg.Close()
		gen, _ := strconv.Atoi(gs)
		if gen != reported && gen != reported+1 {
			t.Errorf("round %d: the file holds generation %d; the saver reported %d saved", round, gen, reported)
		}
		if big != bigData(8<<20) {
			t.Errorf("round %d: /tmp/big of the file is not what was saved (%d bytes)", round, len(big))
		}
		if sn.System != "web" {
			t.Errorf("round %d: image of system %q; want web", round, sn.System)
		}
		last = gen
	}
	if last == 0 {
		t.Error("no generation read back")
	}
}

// TestMigrate saves a system in this loom and loads it in another (a
// process of its own), which must find its files, environment and host
// processes, started again there each from its own definition: the
// environment it was started with, although the system's has changed
// since, and its working directory.
func TestMigrate(t *testing.T) {
	reg, sys := savedSystem(t, 1<<20)
	defer reg.Close()
	ctx := context.Background()
	if err := nsWrite(ctx, sys.NS, "/tmp/a", "moved across"); err != nil {
		t.Fatal(err)
	}
	if err := sys.Def.Env.Vars.Set("site", "moved on"); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "web.img")
	var progress bytes.Buffer
	if err := reg.Command(ctx, &progress, "web", []string{"save", "web", file}); err != nil {
		t.Fatal(err)
	}
	cmd := role(t, "loader", file)
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("the other loom: %v", err)
	}
	want := "a=moved across\nbig=1048576\nsite=moved on\nprocs=sleeper:sleep 3600:"
	if !strings.HasPrefix(string(got), want) {
		t.Fatalf("the other loom found:\n%s\nwant it to begin:\n%s", got, want)
	}
	state, rest, _ := strings.Cut(string(got[len(want):]), "\n")
	if state != "Wakeme" && state != "Running" {
		t.Errorf("the other loom's sleeper is %q; want it running", state)
	}
	def, _, _ := strings.Cut(rest, "\n")
	head := "def=sleeper dir=" + os.TempDir() + " env="
	env, ok := strings.CutPrefix(def, head)
	if !ok || !slices.Contains(strings.Fields(env), "site=web") {
		t.Errorf("the other loom's definition of sleeper = %q; want it to begin %q and hold site=web", def, head)
	}
}

// TestSaveProgress checks that a save of more than 64 MiB tells how far
// it has got, and a small one does not.
func TestSaveProgress(t *testing.T) {
	if testing.Short() {
		t.Skip("saves 80 MiB")
	}
	for _, tc := range []struct {
		size int
		want bool
	}{{1 << 20, false}, {80 << 20, true}} {
		reg, _ := savedSystem(t, tc.size)
		var out bytes.Buffer
		file := filepath.Join(t.TempDir(), "img")
		if err := reg.Command(context.Background(), &out, "web", []string{"save", "web", file}); err != nil {
			t.Fatal(err)
		}
		got := strings.Contains(out.String(), "save: 80 MiB of 80 MiB\n")
		if got != tc.want || (!tc.want && out.Len() != 0) {
			t.Errorf("save of %d bytes printed %q; want progress %v", tc.size, out.String(), tc.want)
		}
		out.Reset()
		reg2 := system.New(system.User(snapUser))
		if err := reg2.Command(context.Background(), &out, "", []string{"load", file, "as", "again"}); err != nil {
			t.Fatal(err)
		}
		if tc.want && !strings.Contains(out.String(), "load: ") {
			t.Errorf("load of %d bytes printed %q; want progress", tc.size, out.String())
		}
		reg2.Close()
		reg.Close()
	}
}

// TestPause9P pauses a system served over 9P: a write held by the pause
// is let go by a Tflush, or by the client hanging up, and then never
// lands; one still held when the system resumes is done.
func TestPause9P(t *testing.T) {
	reg := system.New(system.User(snapUser))
	defer reg.Close()
	sys, err := reg.New("web")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := nsWrite(ctx, sys.NS, "/tmp/f", "before"); err != nil {
		t.Fatal(err)
	}
	sock := serveFS(t, sys.NS)
	open := func() *compRaw {
		r := compDialRaw(t, sock)
		r.rpc(&plan9.Fcall{Type: plan9.Twalk, Tag: 1, Fid: 0, Newfid: 1, Wname: []string{"tmp", "f"}}, plan9.Rwalk)
		r.rpc(&plan9.Fcall{Type: plan9.Topen, Tag: 1, Fid: 1, Mode: plan9.OWRITE}, plan9.Ropen)
		return r
	}
	flushed, hungup, resumed := open(), open(), open()
	if err := reg.Command(ctx, io.Discard, "", []string{"pause", "web"}); err != nil {
		t.Fatal(err)
	}
	held := func(n int) {
		t.Helper()
		for sys.Held() != n {
			time.Sleep(time.Millisecond)
		}
	}
	flushed.send(&plan9.Fcall{Type: plan9.Twrite, Tag: 5, Fid: 1, Data: []byte("FLUSHED")})
	held(1)
	flushed.send(&plan9.Fcall{Type: plan9.Tflush, Tag: 6, Oldtag: 5})
	for {
		if rx := flushed.recv(); rx.Type == plan9.Rflush {
			break
		} else if rx.Type == plan9.Rwrite {
			t.Fatalf("the held write was done: %v", rx)
		}
	}
	held(0)
	hungup.send(&plan9.Fcall{Type: plan9.Twrite, Tag: 5, Fid: 1, Data: []byte("HUNGUP")})
	held(1)
	hungup.c.Close()
	held(0)
	resumed.send(&plan9.Fcall{Type: plan9.Twrite, Tag: 7, Fid: 1, Data: []byte("resumed")})
	held(1)
	if err := reg.Command(ctx, io.Discard, "", []string{"resume", "web"}); err != nil {
		t.Fatal(err)
	}
	if rx := resumed.recv(); rx.Type != plan9.Rwrite || rx.Count != 7 {
		t.Fatalf("the write held until resume: reply %v; want Rwrite of 7", rx)
	}
	if got, err := nsRead(ctx, sys.NS, "/tmp/f"); err != nil || got != "resumed" {
		t.Errorf("/tmp/f = %q, %v; want %q", got, err, "resumed")
	}
}
