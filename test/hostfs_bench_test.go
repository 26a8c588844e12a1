package test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ninep "loom/9p"
	"loom/ns"
)

// Benchmarks of hostfs: reading a host file through hostfs, directly
// (the ns.File API) and through loom's 9P listener in both dialects,
// against reading the same file with os.File.ReadAt in the same run, and
// against diod serving the same directory when diod is installed.
//
// Names are BenchmarkHostfs<Op>/<reader>, reader one of
//
//	direct   os.File.ReadAt on the host file
//	hostfs   ns.File.Read of a hostfs File, in process
//	loom9P   hostfs behind loom's listener, loom's 9P2000 client
//	loomL    hostfs behind loom's listener, loom's 9P2000.L client
//	diod     diod serving the directory, loom's 9P2000.L client
//
// The file is in the page cache (written just before), so what is
// measured is the cost of the path to it, not of the disk.

const (
	hostfsBigLen   = 64 << 20 // the bulk-read file
	hostfsChunk    = 1 << 20  // one bulk read
	hostfsSmallLen = 4096     // the small-read file
	hostfsSmall    = 128      // one small read
)

// hostfsReader reads at an offset, filling p as far as the file goes.
type hostfsReader func(p []byte, off int64) (int, error)

// hostfsBenchDir makes the directory a benchmark reads, holding the file
// name with data.
func hostfsBenchDir(b testing.TB, name string, data []byte) string {
	b.Helper()
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0644); err != nil {
		b.Fatal(err)
	}
	return dir
}

// hostfsReaders gives a reader of the file name in dir for each way of
// reading it that is available; a missing one (diod) is named with the
// reason instead.
func hostfsReaders(b testing.TB, dir, name string) (readers map[string]hostfsReader, missing map[string]string) {
	b.Helper()
	readers, missing = map[string]hostfsReader{}, map[string]string{}
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	readers["direct"] = f.ReadAt

	fsys := hostfsNew(b, dir)
	readers["hostfs"] = nsReader(b, fsys, "", name)
	sock := serveFS(b, fsys)
	for label, dialect := range map[string]string{"loom9P": ninep.Dialect9P2000, "loomL": ninep.Dialect9P2000L} {
		c, err := ninep.Dial("unix!"+sock, ninep.Dialect(dialect), ninep.DialMsize(ninep.DefaultMsize))
		if err != nil {
			b.Fatalf("Dial(%s) = %v", dialect, err)
		}
		b.Cleanup(func() { c.Close() })
		readers[label] = nsReader(b, c, "", name)
	}
	if addr, why := startDiod(b, dir); why != "" {
		missing["diod"] = why
	} else {
		c, err := ninep.Dial(addr, ninep.Dialect(ninep.Dialect9P2000L), ninep.DialMsize(ninep.DefaultMsize))
		if err != nil {
			missing["diod"] = fmt.Sprintf("diod started but Dial(%s) = %v", addr, err)
		} else {
			b.Cleanup(func() { c.Close() })
			if r, err := tryNsReader(c, hostUser(), dir, name); err != nil {
				missing["diod"] = fmt.Sprintf("diod started but attach and open = %v", err)
			} else {
				readers["diod"] = r
			}
		}
	}
	return readers, missing
}

// nsReader attaches to fsys with aname, opens name for reading and gives
// a reader of it that fills p with as many Reads as it takes (a 9P read
// returns at most a message's worth).
func nsReader(b testing.TB, fsys ns.FS, aname, name string) hostfsReader {
	b.Helper()
	r, err := tryNsReader(fsys, benchUser, aname, name)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func tryNsReader(fsys ns.FS, user, aname, name string) (hostfsReader, error) {
	ctx := context.Background()
	root, err := fsys.Attach(ctx, user, aname)
	if err != nil {
		return nil, fmt.Errorf("Attach(%q) = %v", aname, err)
	}
	defer root.Clunk()
	_, f, err := root.Walk(ctx, []string{name})
	if err != nil || f == nil {
		return nil, fmt.Errorf("Walk(%s) = %v, %v", name, f, err)
	}
	if _, err := f.Open(ctx, ns.OREAD); err != nil {
		f.Clunk()
		return nil, fmt.Errorf("Open(%s) = %v", name, err)
	}
	return func(p []byte, off int64) (int, error) {
		done := 0
		for done < len(p) {
			n, err := f.Read(ctx, p[done:], off+int64(done))
			if err != nil {
				return done, err
			}
			if n == 0 {
				return done, io.EOF
			}
			done += n
		}
		return done, nil
	}, nil
}

// hostfsOrder is the order the rows are run in.
var hostfsOrder = []string{"direct", "hostfs", "loom9P", "loomL", "diod"}

// hostfsBench serves a directory holding the file name with contents want
// and reads it in pieces of chunk bytes with each reader, as
// sub-benchmarks, checking every byte once before the clock runs.
func hostfsBench(b *testing.B, name string, chunk int, want []byte) {
	dir := hostfsBenchDir(b, name, want)
	readers, missing := hostfsReaders(b, dir, name)
	for _, label := range hostfsOrder {
		b.Run(label, func(b *testing.B) {
			if why, ok := missing[label]; ok {
				b.Skip(why)
			}
			read := readers[label]
			buf := make([]byte, chunk)
			// One checked pass over the file before the clock runs.
			for off := 0; off < len(want); off += chunk {
				n, err := read(buf, int64(off))
				if err != nil && err != io.EOF || !bytes.Equal(buf[:n], want[off:min(off+chunk, len(want))]) {
					b.Fatalf("read(off %d) = %d, %v; want the file's bytes", off, n, err)
				}
			}
			b.SetBytes(int64(chunk))
			b.ResetTimer()
			off := 0
			for b.Loop() {
				if _, err := read(buf, int64(off)); err != nil && err != io.EOF {
					b.Fatal(err)
				}
				if off += chunk; off+chunk > len(want) {
					off = 0
				}
			}
		})
	}
}

// BenchmarkHostfsBulkRead reads the 64 MiB file in 1 MiB reads, round
// and round.
func BenchmarkHostfsBulkRead(b *testing.B) {
	hostfsBench(b, "big", hostfsChunk, pattern(hostfsBigLen, bigSeed))
}

// BenchmarkHostfsSmallRead reads the small file 128 bytes at a time: one
// round trip per read over 9P.
func BenchmarkHostfsSmallRead(b *testing.B) {
	hostfsBench(b, "small", hostfsSmall, pattern(hostfsSmallLen, smallSeed))
}

// hostUser is the name of the user the tests run as: diod, which
// checks users, is attached as it.
func hostUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}

// startDiod starts diod serving dir on a loopback TCP port and returns
// its address in dial form, or why it could not. diod is Debian's
// package "diod"; it is not installed by the tests.
//
// diod speaks 9P2000.L only and checks users: it runs here without
// authentication (-n), with every user squashed to root (-S -U root) so
// that the attach, which names no user, may read what the server's own
// user can, and with an empty configuration (-c /dev/null) so that no
// site configuration matters. Older versions daemonize unless given -f,
// which newer ones no longer take; -f is tried first.
func startDiod(tb testing.TB, dir string) (addr, skip string) {
	tb.Helper()
	bin, err := exec.LookPath("diod")
	if err != nil {
		return "", "diod not installed (Debian package diod): no diod rows"
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err.Error()
	}
	hostport := l.Addr().String()
	l.Close()
	args := []string{"-n", "-S", "-U", "root", "-c", "/dev/null", "-L", "stderr", "-l", hostport, "-e", dir}
	var why []string
	for _, fg := range [][]string{{"-f"}, nil} {
		cmd := exec.Command(bin, append(fg, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			return "", fmt.Sprintf("diod: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if diodAnswers(hostport, exited) {
			tb.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
			})
			return "tcp!" + strings.Replace(hostport, ":", "!", 1), ""
		}
		cmd.Process.Kill()
		<-exited // out is complete once Wait has returned
		why = append(why, fmt.Sprintf("%s: %q", cmd, strings.TrimSpace(out.String())))
	}
	return "", "diod did not start: " + strings.Join(why, "; ")
}

// diodAnswers waits up to five seconds for hostport to accept a
// connection, giving up early if the server exits.
func diodAnswers(hostport string, exited <-chan struct{}) bool {
	for range 100 {
		select {
		case <-exited:
			return false
		default:
		}
		if c, err := net.Dial("tcp", hostport); err == nil {
			c.Close()
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// TestHostfsBenchReaders checks the benchmarks' readers, so that they are
// known to read the right bytes without running the benchmarks.
func TestHostfsBenchReaders(t *testing.T) {
	want := pattern(3<<20+17, bigSeed)
	readers, missing := hostfsReaders(t, hostfsBenchDir(t, "f", want), "f")
	for _, label := range hostfsOrder {
		read, ok := readers[label]
		if !ok {
			t.Logf("%s: %s", label, missing[label])
			continue
		}
		for _, chunk := range []int{hostfsSmall, hostfsChunk} {
			buf := make([]byte, chunk)
			for _, off := range []int{0, chunk, len(want) - chunk/2, len(want)} {
				n, err := read(buf, int64(off))
				if err != nil && err != io.EOF || !bytes.Equal(buf[:n], want[off:min(off+chunk, len(want))]) {
					t.Errorf("%s: read(%d bytes at %d) = %d, %v; want the file's bytes", label, chunk, off, n, err)
				}
			}
		}
	}
}
