package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkStart measures a shell's start to the end of an empty script
// given with -c: loom against bash --norc and, when installed, rc (from
// Debian's 9base). Compare the ns/op of the sub-benchmarks of one run.
func BenchmarkStart(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "loom")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	shells := []struct {
		name string
		argv []string
	}{
		{"loom", []string{bin, "-c", ""}},
		{"bash", []string{"bash", "--norc", "-c", ""}},
		{"rc", []string{"rc", "-c", ""}},
	}
	for _, sh := range shells {
		b.Run(sh.name, func(b *testing.B) {
			p, err := exec.LookPath(sh.argv[0])
			if err != nil && sh.name == "rc" {
				p, err = exec.LookPath("/usr/lib/plan9/bin/rc")
			}
			if err != nil {
				b.Skipf("%s is not installed", sh.name)
			}
			for b.Loop() {
				cmd := exec.Command(p, sh.argv[1:]...)
				cmd.Env = os.Environ()
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%s: %v: %s", sh.name, err, out)
				}
			}
		})
	}
}
