package interp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"loom/lang"
	"loom/ns"
)

// words expands words into a list, globbing unquoted *, ? and [ against
// the namespace.
func (r *Runner) words(ctx context.Context, ws []*lang.Word, io IO) ([]string, error) {
	var out []string
	for _, w := range ws {
		v, err := r.word(ctx, w, io, true)
		if err != nil {
			return nil, err
		}
		out = append(out, v...)
	}
	return out, nil
}

// single expands w and wants exactly one string.
func (r *Runner) single(ctx context.Context, w *lang.Word, io IO, what string) (string, error) {
	v, err := r.word(ctx, w, io, false)
	if err != nil {
		return "", err
	}
	if len(v) != 1 {
		return "", fmt.Errorf("%s: want one word, have %d", String(w), len(v))
	}
	return v[0], nil
}

// patterns expands words into patterns for ~ and case: only unquoted
// *, ? and [ match patterns; everything else matches itself.
func (r *Runner) patterns(ctx context.Context, ws []*lang.Word, io IO) ([]string, error) {
	var out []string
	for _, w := range ws {
		v, err := r.expand(ctx, w, io, true)
		if err != nil {
			return nil, err
		}
		out = append(out, v...)
	}
	return out, nil
}

// word expands one word; with glob, unquoted pattern characters are
// matched against the namespace (a pattern that matches nothing stays as
// it is, as in rc).
func (r *Runner) word(ctx context.Context, w *lang.Word, io IO, glob bool) ([]string, error) {
	if !glob || !hasMeta(w) {
		return r.expand(ctx, w, io, false)
	}
	pats, err := r.expand(ctx, w, io, true)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range pats {
		if !isPattern(p) {
			out = append(out, unescape(p))
			continue
		}
		m := r.glob(ctx, p)
		if len(m) == 0 {
			out = append(out, unescape(p))
		}
		out = append(out, m...)
	}
	return out, nil
}

// hasMeta reports whether an unquoted part of w has a pattern character.
func hasMeta(w *lang.Word) bool {
	for _, p := range w.Parts {
		if l, ok := p.(*lang.Lit); ok && strings.ContainsAny(l.Value, "*?[") {
			return true
		}
		if l, ok := p.(*lang.List); ok && slices.ContainsFunc(l.Words, hasMeta) {
			return true
		}
	}
	return false
}

// expand expands w's parts and concatenates them as rc does. With esc,
// the result is a pattern: characters that did not come from an unquoted
// literal are escaped with \.
func (r *Runner) expand(ctx context.Context, w *lang.Word, io IO, esc bool) ([]string, error) {
	var acc []string
	for i, part := range w.Parts {
		v, err := r.part(ctx, part, io, esc)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			acc = v
			continue
		}
		if acc, err = concat(acc, v); err != nil {
			return nil, fmt.Errorf("%s: %w", String(w), err)
		}
	}
	return acc, nil
}

// concat is rc's ^: pairwise for lists of one length, distributing a
// single element over the other list.
func concat(a, b []string) ([]string, error) {
	switch {
	case len(a) == 0 || len(b) == 0:
		return nil, errors.New("null list in concatenation")
	case len(a) == 1:
		out := make([]string, len(b))
		for i := range b {
			out[i] = a[0] + b[i]
		}
		return out, nil
	case len(b) == 1:
		out := make([]string, len(a))
		for i := range a {
			out[i] = a[i] + b[0]
		}
		return out, nil
	case len(a) == len(b):
		out := make([]string, len(a))
		for i := range a {
			out[i] = a[i] + b[i]
		}
		return out, nil
	}
	return nil, fmt.Errorf("mismatched list lengths in concatenation (%d and %d)", len(a), len(b))
}

func (r *Runner) part(ctx context.Context, part lang.WordPart, io IO, esc bool) ([]string, error) {
	quote := func(v []string) []string {
		if !esc {
			return v
		}
		out := make([]string, len(v))
		for i, s := range v {
			out[i] = escape(s, "*?[\\")
		}
		return out
	}
	switch p := part.(type) {
	case *lang.Lit:
		if esc {
			return []string{escape(p.Value, "\\")}, nil
		}
		return []string{p.Value}, nil
	case *lang.Quoted:
		return quote([]string{p.Value}), nil
	case *lang.Var:
		v, _ := r.lookup(p.Name)
		switch p.Kind {
		case lang.VarCount:
			return []string{strconv.Itoa(len(v))}, nil
		case lang.VarJoin:
			return quote([]string{strings.Join(v, " ")}), nil
		}
		if p.Index != nil {
			idx, err := r.words(ctx, p.Index.Words, io)
			if err != nil {
				return nil, err
			}
			var sel []string
			for _, s := range idx {
				n, err := strconv.Atoi(s)
				if err != nil || n < 1 {
					return nil, fmt.Errorf("$%s(%s): bad subscript", p.Name, s)
				}
				if n <= len(v) {
					sel = append(sel, v[n-1])
				}
			}
			v = sel
		}
		return quote(v), nil
	case *lang.CmdSubst:
		var out bytes.Buffer
		sub := r.subshell()
		sio := io
		sio.Stdout = &out
		if err := sub.stmts(ctx, p.Stmts, sio); err != nil && !isControl(err) {
			return nil, err
		}
		ifs := strings.Join(r.Get("ifs"), "")
		return quote(strings.FieldsFunc(out.String(), func(c rune) bool {
			return strings.ContainsRune(ifs, c)
		})), nil
	case *lang.List:
		var out []string
		for _, w := range p.Words {
			v, err := r.expand(ctx, w, io, esc)
			if err != nil {
				return nil, err
			}
			out = append(out, v...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown word part %T", part)
}

func escape(s, chars string) string {
	if !strings.ContainsAny(s, chars) {
		return s
	}
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(chars, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func unescape(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isPattern reports whether an escaped pattern has an unescaped *, ? or [.
func isPattern(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}

// match reports whether s matches the escaped pattern p: * matches any
// string (slashes too, as in rc's ~ and case), ? any one character, [...]
// a class, with ~ or ^ first to negate it, \x the character x.
func match(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for p = p[1:]; len(p) > 0 && p[0] == '*'; p = p[1:] {
			}
			if p == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if match(p, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			_, n := decodeRune(s)
			p, s = p[1:], s[n:]
		case '[':
			if s == "" {
				return false
			}
			c, n := decodeRune(s)
			ok, rest, valid := matchClass(p[1:], c)
			if !valid {
				if s[0] != '[' {
					return false
				}
				p, s = p[1:], s[1:]
				continue
			}
			if !ok {
				return false
			}
			p, s = rest, s[n:]
		default:
			c := p[0]
			if c == '\\' && len(p) > 1 {
				p = p[1:]
				c = p[0]
			}
			if s == "" || s[0] != c {
				return false
			}
			p, s = p[1:], s[1:]
		}
	}
	return s == ""
}

// matchClass matches c against the class that p starts (after the [),
// returning whether it matched, the pattern after the ], and whether the
// class was well formed.
func matchClass(p string, c rune) (ok bool, rest string, valid bool) {
	neg := false
	if len(p) > 0 && (p[0] == '~' || p[0] == '^') {
		neg, p = true, p[1:]
	}
	for i := 0; i < len(p); {
		if p[i] == ']' && i > 0 {
			return ok != neg, p[i+1:], true
		}
		lo, n := decodeRune(p[i:])
		if lo == '\\' && i+1 < len(p) {
			i++
			lo, n = decodeRune(p[i:])
		}
		i += n
		hi := lo
		if i+1 < len(p) && p[i] == '-' && p[i+1] != ']' {
			hi, n = decodeRune(p[i+1:])
			i += 1 + n
		}
		if lo <= c && c <= hi {
			ok = true
		}
	}
	return false, "", false
}

func decodeRune(s string) (rune, int) { return utf8.DecodeRuneInString(s) }

// maxGlob bounds the matches of one pattern, since a namespace may have
// cycles and huge directories.
const maxGlob = 10000

// glob matches the escaped pattern p against the namespace, one path
// element at a time; the names come back sorted, relative if p was.
func (r *Runner) glob(ctx context.Context, p string) []string {
	absolute := strings.HasPrefix(p, "/")
	elems := strings.Split(p, "/")
	prefixes := []string{""}
	if absolute {
		prefixes = []string{"/"}
		elems = elems[1:]
	}
	for i, e := range elems {
		if e == "" {
			continue
		}
		var next []string
		last := i == len(elems)-1
		for _, pre := range prefixes {
			if !isPattern(e) {
				name := pre + unescape(e)
				if last {
					if _, err := r.stat(ctx, name); err != nil {
						continue
					}
				}
				next = append(next, name+slash(last))
				continue
			}
			dirs, err := r.readDir(ctx, pre)
			if err != nil {
				continue
			}
			for _, d := range dirs {
				if strings.HasPrefix(d.Name, ".") && !strings.HasPrefix(e, ".") {
					continue
				}
				if !last && !d.Mode.IsDir() {
					continue
				}
				if match(e, d.Name) {
					next = append(next, pre+d.Name+slash(last))
				}
			}
		}
		if len(next) > maxGlob {
			next = next[:maxGlob]
		}
		prefixes = next
	}
	out := prefixes
	if len(out) == 1 && (out[0] == "" || out[0] == "/") {
		return nil
	}
	slices.Sort(out)
	return out
}

func slash(last bool) string {
	if last {
		return ""
	}
	return "/"
}

// stat returns the metadata of the file p names.
func (r *Runner) stat(ctx context.Context, p string) (ns.Dir, error) {
	f, err := r.ns.Walk(ctx, r.abs(p))
	if err != nil {
		return ns.Dir{}, err
	}
	defer f.Clunk()
	return f.Stat(ctx)
}
