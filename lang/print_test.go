package lang

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the printer's golden files")

// TestPrintGolden formats each testdata/*.loom and compares it with the
// .golden file beside it; formatting the golden file must not change it.
func TestPrintGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.loom")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, name := range files {
		t.Run(filepath.Base(name), func(t *testing.T) {
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			got := format(t, name, string(src))
			golden := strings.TrimSuffix(name, ".loom") + ".golden"
			if *update {
				os.WriteFile(golden, []byte(got), 0o666)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("Format(%s) =\n%s\nwant\n%s", name, got, want)
			}
			if again := format(t, golden, got); again != got {
				t.Errorf("Format(Format(%s)) =\n%s\nwant it unchanged:\n%s", name, again, got)
			}
			// Comments survive, every one of them.
			if a, b := strings.Count(string(src), "#"), strings.Count(got, "#"); a != b {
				t.Errorf("Format(%s) has %d #s; the source has %d", name, b, a)
			}
		})
	}
}

func format(t *testing.T, name, src string) string {
	t.Helper()
	f, err := Parse([]byte(src), name)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return Format(f)
}

// TestPrintStable checks parse→print→parse on every table script: the
// second parse gives the same tree as the first.
func TestPrintStable(t *testing.T) {
	srcs := printEdge
	for _, tt := range parseTests {
		srcs = append(srcs, tt.src)
	}
	for _, src := range srcs {
		tt := struct{ src string }{src}
		f, err := Parse([]byte(tt.src), "t")
		if err != nil {
			continue
		}
		out := Format(f)
		g, err := Parse([]byte(out), "t")
		if err != nil {
			t.Errorf("Parse(Format(%q)) = %v; Format gave %q", tt.src, err, out)
			continue
		}
		if dump(g) != dump(f) {
			t.Errorf("Parse(Format(%q)) = %s; want %s (Format gave %q)", tt.src, dump(g), dump(f), out)
		}
	}
}

func TestString(t *testing.T) {
	f, err := Parse([]byte("if(~ $x a) {\n\techo a\n\techo b\n}\n"), "t")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := String(f.Stmts[0]), "if(~ $x a) {echo a; echo b}"; got != want {
		t.Errorf("String = %q; want %q", got, want)
	}
}

func FuzzParse(f *testing.F) {
	for _, tt := range parseTests {
		f.Add(tt.src)
	}
	for _, tt := range parseErrors {
		f.Add(tt.src)
	}
	for _, src := range printEdge {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		file, err := Parse([]byte(src), "fuzz")
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("Parse(%q) error %T, not a *ParseError", src, err)
			}
			return
		}
		out := Format(file)
		again, err := Parse([]byte(out), "fuzz")
		if err != nil {
			t.Fatalf("Parse(Format(%q)) = %v; Format gave %q", src, err, out)
		}
		if d1, d2 := dump(file), dump(again); d1 != d2 {
			t.Fatalf("Parse(Format(%q)) = %s; want %s (Format gave %q)", src, d2, d1, out)
		}
		if out2 := Format(again); out2 != out {
			t.Fatalf("Format not stable for %q: %q then %q", src, out, out2)
		}
	})
}
