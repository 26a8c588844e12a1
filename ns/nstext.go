package ns

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// A Cmd is one command of a namespace's text, as namespace(6) has them:
//
//	bind [-abcC] new old
//	mount [-abcC] servername old [spec]
//	unmount [new] old
//	clear
//	cd dir
//	. file
type Cmd struct {
	Op   string   // "bind", "mount", "unmount", "clear", "cd" or "."
	Flag Flag     // bind and mount: MREPL, MBEFORE or MAFTER, with MCREATE and MCACHE
	Args []string // the names after the flags
	Pos  Pos      // where the command is, for messages
}

// A Pos is a place in a namespace's text.
type Pos struct {
	Name      string // of the text, as given to ParseText
	Line, Col int    // counting from 1; Col counts bytes
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.Name, p.Line, p.Col) }

// A ParseError is a fault in a namespace's text.
type ParseError struct {
	Pos Pos
	Msg string
}

func (e *ParseError) Error() string { return e.Pos.String() + ": " + e.Msg }

// usage gives, for each command, its argument counts and its usage.
var usage = map[string]struct {
	min, max int
	flags    bool
	text     string
}{
	"bind":    {2, 2, true, "bind [-abcC] new old"},
	"mount":   {2, 3, true, "mount [-abcC] servername old [spec]"},
	"unmount": {1, 2, false, "unmount [new] old"},
	"clear":   {0, 0, false, "clear"},
	"cd":      {1, 1, false, "cd dir"},
	".":       {1, 1, false, ". file"},
}

// A word is a word of the text, and whether some of it was quoted.
type word struct {
	s      string
	quoted bool
	pos    Pos
}

// ParseText parses namespace(6) text; name names it in errors, which are
// *ParseError values printed as name:line:col: message.
//
// Each line holds one command; words are separated by blanks and may be
// quoted as in rc(1): 'a b' is one word, and a quote inside quotes is
// written twice.
// A line whose first word starts with # is a comment; elsewhere # is a
// letter, as in '#s/boot'. Flags are unquoted words starting with "-"
// right after bind or mount: -a, -b, -c and -C, alone or together
// ("-ac"). Unlike Plan 9's newns, $name is not expanded.
func ParseText(name string, src []byte) ([]Cmd, error) {
	var cmds []Cmd
	line, col := 1, 1
	i := 0
	for i < len(src) {
		// One line.
		var words []word
		for i < len(src) && src[i] != '\n' {
			switch c := src[i]; {
			case c == ' ' || c == '\t' || c == '\r':
				i++
				col++
			case c == '#' && len(words) == 0:
				for i < len(src) && src[i] != '\n' {
					i++
				}
			default:
				w := word{pos: Pos{name, line, col}}
				var b strings.Builder
				for i < len(src) && !strings.ContainsRune(" \t\r\n", rune(src[i])) {
					if src[i] != '\'' {
						b.WriteByte(src[i])
						i++
						col++
						continue
					}
					w.quoted = true
					qpos := Pos{name, line, col}
					i++
					col++
					for {
						if i == len(src) {
							return nil, &ParseError{qpos, "unterminated quote"}
						}
						if src[i] == '\'' {
							i++
							col++
							if i == len(src) || src[i] != '\'' {
								break
							}
						}
						if src[i] == '\n' {
							line, col = line+1, 0
						}
						b.WriteByte(src[i])
						i++
						col++
					}
				}
				w.s = b.String()
				words = append(words, w)
			}
		}
		if i < len(src) {
			i++ // the newline
			line, col = line+1, 1
		}
		if len(words) == 0 {
			continue
		}
		c, err := parseCmd(words)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, c)
	}
	return cmds, nil
}

func parseCmd(words []word) (Cmd, error) {
	c := Cmd{Op: words[0].s, Pos: words[0].pos}
	u, ok := usage[c.Op]
	if !ok {
		return Cmd{}, &ParseError{c.Pos, fmt.Sprintf("unknown command %q", c.Op)}
	}
	words = words[1:]
	for u.flags && len(words) > 0 && !words[0].quoted && strings.HasPrefix(words[0].s, "-") {
		w := words[0]
		words = words[1:]
		if w.s == "-" {
			return Cmd{}, &ParseError{w.pos, "bad flag -"}
		}
		for _, r := range w.s[1:] {
			var f Flag
			switch r {
			case 'a':
				f = MAFTER
			case 'b':
				f = MBEFORE
			case 'c':
				f = MCREATE
			case 'C':
				f = MCACHE
			default:
				return Cmd{}, &ParseError{w.pos, fmt.Sprintf("bad flag -%c; usage: %s", r, u.text)}
			}
			c.Flag |= f
		}
		if c.Flag&MORDER == MORDER {
			return Cmd{}, &ParseError{w.pos, "-a and -b together"}
		}
	}
	if len(words) < u.min || len(words) > u.max {
		return Cmd{}, &ParseError{c.Pos, "usage: " + u.text}
	}
	for _, w := range words {
		c.Args = append(c.Args, w.s)
	}
	return c, nil
}

// PrintText prints cmds as namespace(6) text, one command a line, that
// ParseText parses back to the same commands (but for their Pos). Names
// that need it are quoted as rc(1) quotes.
func PrintText(cmds []Cmd) []byte {
	var b strings.Builder
	for _, c := range cmds {
		b.WriteString(c.Op)
		if usage[c.Op].flags && c.Flag != 0 {
			b.WriteString(" -")
			switch c.Flag & MORDER {
			case MBEFORE:
				b.WriteByte('b')
			case MAFTER:
				b.WriteByte('a')
			}
			if c.Flag&MCREATE != 0 {
				b.WriteByte('c')
			}
			if c.Flag&MCACHE != 0 {
				b.WriteByte('C')
			}
		}
		for _, a := range c.Args {
			b.WriteByte(' ')
			b.WriteString(quote(a))
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// quote quotes s if it is empty, holds blanks or quotes, or could be
// taken for flags.
func quote(s string) string {
	if s != "" && s[0] != '-' && !strings.ContainsAny(s, " \t\r\n'") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// maxDepth bounds the nesting of ". file" commands.
const maxDepth = 8

// Replay applies cmds to nsp in order, as Plan 9's newns applies a
// namespace file, and stops at the first that fails, giving its position.
// A mount asks resolve for the server it names; the server is mounted
// with that name (see Named). Names not starting with "/" are taken from
// the directory of the last cd ("/" at first), ". file" reads file from
// nsp and applies it in turn, and clear empties nsp.
func Replay(nsp *Namespace, cmds []Cmd, resolve func(name string) (FS, error)) error {
	dot := "/"
	return replay(nsp, cmds, resolve, &dot, 0)
}

func replay(nsp *Namespace, cmds []Cmd, resolve func(string) (FS, error), dot *string, depth int) error {
	abs := func(p string) string {
		if strings.HasPrefix(p, "/") {
			return p
		}
		return *dot + "/" + p
	}
	ctx := context.Background()
	for _, c := range cmds {
		var err error
		a := c.Args
		if u, ok := usage[c.Op]; !ok {
			return fmt.Errorf("%v: unknown command %q", c.Pos, c.Op)
		} else if len(a) < u.min || len(a) > u.max {
			return fmt.Errorf("%v: usage: %s", c.Pos, u.text)
		}
		switch c.Op {
		case "bind":
			err = nsp.Bind(abs(a[0]), abs(a[1]), c.Flag)
		case "mount":
			var srv FS
			if resolve == nil {
				err = fmt.Errorf("mount %s: no servers to mount", a[0])
				break
			}
			if srv, err = resolve(a[0]); err != nil {
				err = fmt.Errorf("mount %s: %w", a[0], err)
				break
			}
			if s, ok := srv.(Namer); !ok || s.Name() != a[0] {
				srv = Named(a[0], srv)
			}
			spec := ""
			if len(a) == 3 {
				spec = a[2]
			}
			err = nsp.Mount(srv, abs(a[1]), c.Flag, spec)
		case "unmount":
			if len(a) == 1 {
				err = nsp.Unmount("", abs(a[0]))
			} else {
				err = nsp.Unmount(abs(a[0]), abs(a[1]))
			}
		case "clear":
			nsp.Clear()
		case "cd":
			var f *file
			if f, err = nsp.walkPath(ctx, abs(a[0]), nil); err == nil {
				if !f.qid.IsDir() {
					err = ErrNotDir
				}
				f.Clunk()
			}
			if err != nil {
				err = fmt.Errorf("cd %s: %w", a[0], err)
			} else {
				*dot = clean(abs(a[0]))
			}
		case ".":
			if depth >= maxDepth {
				err = errors.New(". " + a[0] + ": namespace files nested too deep")
				break
			}
			var src []byte
			if src, err = readAll(ctx, nsp, abs(a[0])); err != nil {
				err = fmt.Errorf(". %s: %w", a[0], err)
				break
			}
			var sub []Cmd
			if sub, err = ParseText(clean(abs(a[0])), src); err == nil {
				err = replay(nsp, sub, resolve, dot, depth+1)
			}
			if err != nil {
				return err // it has its own position
			}
		}
		if err != nil {
			return fmt.Errorf("%v: %w", c.Pos, err)
		}
	}
	return nil
}

// maxText bounds the size of a namespace file.
const maxText = 1 << 20

// readAll reads the file p of nsp.
func readAll(ctx context.Context, nsp *Namespace, p string) ([]byte, error) {
	f, err := nsp.walkPath(ctx, p, nil)
	if err != nil {
		return nil, err
	}
	defer f.Clunk()
	if _, err := f.Open(ctx, OREAD); err != nil {
		return nil, err
	}
	var out []byte
	buf := make([]byte, 8192)
	for len(out) < maxText {
		k, err := f.Read(ctx, buf, int64(len(out)))
		if err != nil {
			return nil, err
		}
		if k == 0 {
			return out, nil
		}
		out = append(out, buf[:k]...)
	}
	return nil, errors.New("namespace file too long")
}

// Text returns the namespace as namespace(6) text: the binds and mounts
// that make its mount table, in the order they were made, with flags that
// rebuild each union in its order. Replaying the text, with a resolver
// that gives the servers by the names they were mounted with, in a new
// Namespace builds the same mount table, as long as the servers hold what
// they held when the binds were made.
//
// Text fails rather than print something that would build a different
// table: when a bind's names were walked through a union member since
// taken away (bind /n/a/b /c, then unmount /n/a), when part of a union
// copied by one bind has since been unmounted, and when a mounted server
// has no name. Mounts that can no longer be reached from the root are
// left out.
func (n *Namespace) Text() ([]byte, error) {
	n.mu.RLock()
	heads := n.t.all()
	n.mu.RUnlock()

	// The unions reachable from the root: those on files of an attach
	// that something reachable has in it.
	reach := map[uint32]bool{0: true}
	live := map[*mhead]bool{}
	for more := true; more; {
		more = false
		for _, h := range heads {
			if !live[h] && reach[h.from.dev] {
				live[h], more = true, true
				for _, m := range h.members {
					reach[m.to.dev] = true
				}
			}
		}
	}

	ids := map[uint64]bool{}
	made := map[*origin]int{}
	where := map[*origin]*mhead{}
	var origins []*origin
	for h := range live {
		for _, m := range h.members {
			ids[m.id] = true
			if made[m.src] == 0 {
				origins = append(origins, m.src)
			}
			made[m.src]++
			where[m.src] = h
		}
	}
	slices.SortFunc(origins, func(a, b *origin) int { return cmp.Compare(a.id, b.id) })

	var cmds []Cmd
	var on []*mhead // the union each command changes
	for _, o := range origins {
		c := Cmd{Op: "bind", Flag: o.flag, Args: []string{o.src, o.old}}
		if o.mount {
			c.Op = "mount"
			if o.aname != "" {
				c.Args = append(c.Args, o.aname)
			}
		}
		what := string(PrintText([]Cmd{c}))
		what = what[:len(what)-1]
		switch {
		case o.mount && o.src == "":
			return nil, fmt.Errorf("namespace text: mount on %s: the server has no name", o.old)
		case made[o] != o.n:
			return nil, fmt.Errorf("namespace text: %s: part of the union it bound has been unmounted", what)
		}
		for _, d := range o.deps {
			if !ids[d] {
				return nil, fmt.Errorf("namespace text: %s: its names went through a mount since undone", what)
			}
		}
		// Replayed, the union has only the members printed before: if
		// none, what was there before this one is gone, so it replaces.
		if !slices.ContainsFunc(where[o].members, func(m member) bool { return m.id < o.id }) {
			c.Flag &^= MORDER
		}
		cmds = append(cmds, c)
		on = append(on, where[o])
	}

	// "bind P P" followed by a union command on P is what that command
	// does alone, when P has nothing on it: leave it out.
	var out []Cmd
	for i, c := range cmds {
		if c.Op == "bind" && c.Flag == MREPL && c.Args[0] == c.Args[1] {
			j := i + 1
			for j < len(cmds) && on[j] != on[i] {
				j++
			}
			if j < len(cmds) && cmds[j].Flag&MORDER != MREPL {
				continue
			}
		}
		out = append(out, c)
	}
	return PrintText(out), nil
}
