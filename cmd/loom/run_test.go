package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// startServe runs "loom serve" on a socket in a temporary directory and
// returns its address; the server stops when the test ends.
func startServe(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "loom.sock")
	addr := "unix!" + sock
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	var out bytes.Buffer
	go func() {
		defer wg.Done()
		if err := run(ctx, []string{"serve", "-listen", addr}, nil, &out, io.Discard); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	for i := 0; ; i++ {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			return addr
		}
		if i == 500 {
			t.Fatalf("server did not start: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// loom runs one loom command with stdin and returns its output.
func loom(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	if err != nil {
		return errb.String(), err
	}
	return out.String(), nil
}

func TestServeAnd9p(t *testing.T) {
	addr := startServe(t)
	for _, dialect := range []string{"", "-L"} {
		t.Run("dialect"+dialect, func(t *testing.T) {
			c := func(stdin string, args ...string) string {
				t.Helper()
				a := []string{"9p", "-a", addr}
				if dialect != "" {
					a = append(a, dialect)
				}
				out, err := loom(t, stdin, append(a, args...)...)
				if err != nil {
					t.Fatalf("loom %s: %v: %s", strings.Join(args, " "), err, out)
				}
				return out
			}
			// The default system's files are under /systems/loom/root.
			dir := "/systems/loom/root/d" + dialect
			c("", "mkdir", dir)
			c("hello, world\n", "write", dir+"/greeting")
			if got := c("", "read", dir+"/greeting"); got != "hello, world\n" {
				t.Errorf("read = %q; want %q", got, "hello, world\n")
			}
			c("bye\n", "write", dir+"/greeting") // truncates
			if got := c("", "read", dir+"/greeting"); got != "bye\n" {
				t.Errorf("read after rewrite = %q; want %q", got, "bye\n")
			}
			if got := c("", "ls", dir); got != "greeting\n" {
				t.Errorf("ls = %q; want %q", got, "greeting\n")
			}
			if got := c("", "ls", "-l", dir); !strings.HasPrefix(got, "--rw-") || !strings.HasSuffix(got, " greeting\n") {
				t.Errorf("ls -l = %q; want a --rw- line for greeting", got)
			}
			if got := c("", "stat", dir); !strings.HasPrefix(got, "'d") {
				t.Errorf("stat = %q; want a stat(5) line", got)
			}
			c("", "rm", dir+"/greeting")
			c("", "rm", dir)
			out, err := loom(t, "", "9p", "-a", addr, "read", dir+"/greeting")
			if err == nil || !strings.Contains(out, "file does not exist") {
				t.Errorf("read of removed file: err %v, stderr %q; want file does not exist", err, out)
			}
		})
	}
	// Both dialects see one tree.
	if _, err := loom(t, "shared\n", "9p", "-a", addr, "-L", "write", "/systems/loom/root/x"); err != nil {
		t.Fatal(err)
	}
	// The aname loom attaches to the default system's root.
	if got, _ := loom(t, "", "9p", "-a", addr, "-A", "loom", "read", "/x"); got != "shared\n" {
		t.Errorf("9P2000 read of a file written over 9P2000.L = %q; want %q", got, "shared\n")
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"serve", "extra"},
		{"serve", "-listen", "nonsense"},
		{"9p", "read"},
		{"9p", "-a", "unix!/nonexistent/sock", "read", "/x"},
	} {
		if out, err := loom(t, "", args...); err == nil {
			t.Errorf("loom %q succeeded; want an error (output %q)", args, out)
		}
	}
}
