package test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	ninep "loom/9p"
	"loom/components/ramfs"
	"loom/ns"
)

// startLoom serves a ramfs holding the benchmark files with loom's 9P
// listener on a unix socket and returns its address; both dialects are
// spoken there.
func startLoom(tb testing.TB, bigSize int) string {
	tb.Helper()
	fs := ramfs.New()
	ctx := context.Background()
	root, err := fs.Attach(ctx, benchUser, "")
	if err != nil {
		tb.Fatalf("ramfs Attach = %v", err)
	}
	defer root.Clunk()
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"small", pattern(smallLen, smallSeed)},
		{"big", pattern(bigSize, bigSeed)},
		{"sink", nil},
	} {
		nf, _, err := root.(ns.Creater).Create(ctx, f.name, 0666, ns.OWRITE)
		if err != nil {
			tb.Fatalf("ramfs Create(%q) = %v", f.name, err)
		}
		if len(f.data) > 0 {
			if n, err := nf.Write(ctx, f.data, 0); n != len(f.data) || err != nil {
				tb.Fatalf("ramfs Write(%q) = %d, %v; want %d, nil", f.name, n, err, len(f.data))
			}
		}
		nf.Clunk()
	}

	addr := filepath.Join(tb.TempDir(), "loom.sock")
	l, err := ninep.Listen("unix!" + addr)
	if err != nil {
		tb.Fatalf("Listen(%q) = %v", addr, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	srv := ninep.NewServer(fs)
	go func() { done <- srv.Serve(ctx, l) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			tb.Errorf("Serve = %v", err)
		}
	})
	return addr
}
