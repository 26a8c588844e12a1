package main

import (
	"context"
	"path"
	"slices"
	"strings"
	"time"

	"loom/lang/interp"
	"loom/ns"
)

// completer completes the word before the cursor: at the start of a
// command, builtins, keywords and functions; after use and clone, system
// names; elsewhere, names in the namespace.
func completer(r *interp.Runner, systems interp.Systems) func(line string, pos int) (string, []string, string) {
	return func(line string, pos int) (string, []string, string) {
		if pos > len(line) {
			pos = len(line)
		}
		before, tail := line[:pos], line[pos:]
		start := strings.LastIndexAny(before, " \t;|&{(`") + 1
		head, word := before[:start], before[start:]
		prev := strings.TrimRight(head, " \t")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()

		var cands []string
		switch {
		case prev == "" || strings.ContainsAny(prev[len(prev)-1:], ";|&{(`"):
			if !strings.Contains(word, "/") {
				names := append(interp.BuiltinNames(), r.Functions()...)
				for _, n := range names {
					if strings.HasPrefix(n, word) {
						cands = append(cands, n+" ")
					}
				}
				break
			}
			cands = completePath(ctx, r, word)
		case lastWord(prev) == "use" || lastWord(prev) == "clone" || lastWord(prev) == "as":
			names, _ := systems.List(ctx)
			for _, n := range names {
				if strings.HasPrefix(n, word) {
					cands = append(cands, n+" ")
				}
			}
		default:
			cands = completePath(ctx, r, word)
		}
		slices.Sort(cands)
		return head, slices.Compact(cands), tail
	}
}

func lastWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// completePath lists the names in the namespace that start with word;
// directories end in /.
func completePath(ctx context.Context, r *interp.Runner, word string) []string {
	dir, base := path.Split(word)
	p := dir
	if !strings.HasPrefix(p, "/") {
		p = path.Join(r.Dir(), p)
	}
	f, err := r.Namespace().Walk(ctx, p)
	if err != nil {
		return nil
	}
	defer f.Clunk()
	if _, err := f.Open(ctx, ns.OREAD); err != nil {
		return nil
	}
	var out []string
	for i := 0; len(out) < 1000; {
		ds, err := f.ReadDir(ctx, i, 256)
		if err != nil || len(ds) == 0 {
			break
		}
		i += len(ds)
		for _, d := range ds {
			if !strings.HasPrefix(d.Name, base) {
				continue
			}
			if d.Mode.IsDir() {
				out = append(out, dir+d.Name+"/")
			} else {
				out = append(out, dir+d.Name+" ")
			}
		}
	}
	return out
}
