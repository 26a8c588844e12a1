package test

import (
	"bytes"
	"context"
	"testing"

	ninep "loom/9p"
	"loom/components/ramfs"
	"loom/ns"
)

// The cost of an import: a file read through a namespace with the file
// server mounted directly (local), imported over loopback TCP (tcp), and
// imported over loopback TCP under TLS with client certificates (tls).
// Read the ratios between the three of one run:
//
//	go test -run '^$' -bench Import ./test
//
// Names are BenchmarkImport<Op>/<who>, as test/cmd/benchtable reads them:
// ImportSmall is one 128-byte read, ImportBulk one pass over 8 MiB in
// reads of 1 MiB.

const importBulkLen = 8 << 20

// importTargets returns namespaces in which /n/small and /n/big are
// the same files of one ramfs: local, over tcp and over tls.
func importTargets(b *testing.B) []struct {
	name string
	ns   *ns.Namespace
} {
	b.Helper()
	r := ramfs.New()
	ctx := context.Background()
	root, err := r.Attach(ctx, "glenda", "")
	if err != nil {
		b.Fatal(err)
	}
	for name, data := range map[string][]byte{"small": pattern(smallLen, smallSeed), "big": pattern(importBulkLen, bigSeed)} {
		f, _, err := root.(ns.Creater).Create(ctx, name, 0o666, ns.OWRITE)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(ctx, data, 0); err != nil {
			b.Fatal(err)
		}
		f.Clunk()
	}
	root.Clunk()

	p := newPKI(b)
	srvCert, srvKey := p.valid(b, "server", "127.0.0.1")
	cliCert, cliKey := p.valid(b, "client")
	tlsAddr := serveSecure(b, r, loadKeys(b, srvCert, srvKey, p.CAFile, ""))
	tcpAddr := startRemote(b, r, "0").addr
	cliKeys := loadKeys(b, cliCert, cliKey, p.CAFile, "")

	over := func(fsys ns.FS) *ns.Namespace {
		n := ns.New("glenda")
		if err := n.Mount(ramfs.New(), "/", ns.MREPL|ns.MCREATE, ""); err != nil {
			b.Fatal(err)
		}
		if err := mk(n, "/n/", ""); err != nil {
			b.Fatal(err)
		}
		if err := n.Mount(fsys, "/n", ns.MREPL, ""); err != nil {
			b.Fatal(err)
		}
		return n
	}
	tcp := ninep.NewRedial(tcpAddr)
	tls := ninep.NewRedial(tlsAddr, ninep.WithKeys(cliKeys))
	b.Cleanup(func() { tcp.Close(); tls.Close() })
	return []struct {
		name string
		ns   *ns.Namespace
	}{{"local", over(r)}, {"tcp", over(tcp)}, {"tls", over(tls)}}
}

func BenchmarkImportSmall(b *testing.B) {
	targets := importTargets(b)
	ctx := context.Background()
	want := pattern(smallLen, smallSeed)
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			f := openPath(b, tg.ns, "/n/small")
			b.Cleanup(func() { f.Clunk() })
			buf := make([]byte, smallLen)
			b.ReportAllocs()
			for b.Loop() {
				n, err := f.Read(ctx, buf, 0)
				if err != nil || n != smallLen {
					b.Fatalf("read = %d, %v; want %d", n, err, smallLen)
				}
			}
			if !bytes.Equal(buf, want) {
				b.Fatalf("read %q; want %q", buf, want)
			}
		})
	}
}

func BenchmarkImportBulk(b *testing.B) {
	targets := importTargets(b)
	ctx := context.Background()
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			f := openPath(b, tg.ns, "/n/big")
			b.Cleanup(func() { f.Clunk() })
			buf := make([]byte, 1<<20)
			b.SetBytes(importBulkLen)
			for b.Loop() {
				var total int64
				for total < importBulkLen {
					n, err := f.Read(ctx, buf, total)
					if err != nil || n == 0 {
						b.Fatalf("read at %d = %d, %v", total, n, err)
					}
					total += int64(n)
				}
			}
		})
	}
}
