package lang

import (
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Fprint writes f in loom's canonical format: one statement a line, blocks
// indented by a tab with their braces as rc writes them, one blank
// between words, comments kept where they were, and at most one blank line
// kept between statements. Parsing the output gives back the same script,
// and printing that gives the same text.
func Fprint(w io.Writer, f *File) error {
	p := &printer{comments: f.Comments, lastLine: -1}
	p.stmts(f.Stmts, false)
	p.flushComments(Pos{Offset: 1 << 62})
	if p.b.Len() > 0 {
		p.eol()
	}
	_, err := io.WriteString(w, p.b.String())
	return err
}

// Format returns f in canonical format, as Fprint writes it.
func Format(f *File) string {
	var b strings.Builder
	Fprint(&b, f)
	return b.String()
}

// String gives a node as the printer prints it, on one line.
func String(n Node) string {
	p := &printer{inline: true}
	p.node(n)
	return p.b.String()
}

type printer struct {
	b        strings.Builder
	indent   int
	inline   bool // print blocks on one line, comments left for later
	comments []*Comment
	lastLine int // the source line of the last thing printed, for blank lines
	started  bool
}

// newline ends the current line and indents the next.
func (p *printer) newline() {
	p.eol()
	for range p.indent {
		p.b.WriteByte('\t')
	}
}

// eol ends a line. A word ending in \ gets a blank after it, lest the
// \ and the newline be read back as a continued line.
func (p *printer) eol() {
	if strings.HasSuffix(p.b.String(), "\\") {
		p.b.WriteByte(' ')
	}
	p.b.WriteByte('\n')
}

// line starts a new line for something from source line src: a blank
// line is kept if the source had one.
func (p *printer) line(src int) {
	if p.started {
		if p.lastLine >= 0 && src > p.lastLine+1 {
			p.b.WriteByte('\n')
		}
		p.newline()
	}
	p.started = true
}

// flushComments prints, each on its own line, the comments before pos.
func (p *printer) flushComments(pos Pos) {
	if p.inline {
		return
	}
	for len(p.comments) > 0 && p.comments[0].Hash.Offset < pos.Offset {
		c := p.comments[0]
		p.comments = p.comments[1:]
		p.line(c.Hash.Line)
		p.b.WriteString("#" + c.Text)
		p.lastLine = c.Hash.Line
	}
}

// trailing prints a comment that follows a statement on its line.
func (p *printer) trailing(end Pos) {
	if p.inline || len(p.comments) == 0 {
		return
	}
	if c := p.comments[0]; c.Hash.Line == end.Line && c.Hash.Offset >= end.Offset {
		p.comments = p.comments[1:]
		p.b.WriteString(" #" + c.Text)
	}
}

// stmts prints a list of statements: on lines of their own, or, inline,
// separated by "; ".
func (p *printer) stmts(ss []*Stmt, inline bool) {
	for i, s := range ss {
		if p.inline || inline {
			if i > 0 {
				if ss[i-1].Background {
					p.b.WriteByte(' ')
				} else {
					p.b.WriteString("; ")
				}
			}
			p.stmt(s)
			continue
		}
		p.flushComments(s.Pos())
		p.line(s.Pos().Line)
		p.stmt(s)
		p.lastLine = s.End().Line
		p.trailing(s.End())
	}
}

func (p *printer) stmt(s *Stmt) {
	p.node(s.Cmd)
	if s.Background {
		p.b.WriteString(" &")
	}
}

// body prints a block's statements between braces; it is on one line
// when inline or empty.
func (p *printer) body(open Pos, ss []*Stmt, close Pos) {
	p.b.WriteByte('{')
	if p.inline {
		p.stmts(ss, true)
		p.b.WriteByte('}')
		return
	}
	if len(ss) == 0 && !p.commentsBefore(close) {
		p.b.WriteByte('}')
		return
	}
	p.indent++
	p.lastLine = -1 // no blank line after {
	p.stmts(ss, false)
	p.flushComments(close)
	p.indent--
	p.newline()
	p.b.WriteByte('}')
	p.lastLine = close.Line
}

func (p *printer) commentsBefore(pos Pos) bool {
	return !p.inline && len(p.comments) > 0 && p.comments[0].Hash.Offset < pos.Offset
}

func (p *printer) node(n Node) {
	switch n := n.(type) {
	case *File:
		p.stmts(n.Stmts, false)
	case *Stmt:
		p.stmt(n)
	case *CallExpr:
		sep := ""
		for _, a := range n.Assigns {
			p.b.WriteString(sep)
			p.node(a)
			sep = " "
		}
		// A command named like a keyword must not be read back as
		// one: "f^n x" stays a command called fn, and "<f !" keeps
		// its redirection in front.
		first, kw := "", false
		if len(n.Args) > 0 && len(n.Assigns) == 0 {
			if l, ok := n.Args[0].Parts[0].(*Lit); ok && keywords[l.Value] {
				first, kw = l.Value, true
			}
		}
		if kw && len(first) == 1 {
			p.redirs(n.Redirs, "")
			if len(n.Redirs) > 0 {
				sep = " "
			}
		}
		for i, w := range n.Args {
			p.b.WriteString(sep)
			if i == 0 && kw && len(first) > 1 {
				p.b.WriteString(first[:1] + "^" + first[1:])
				p.word(&Word{Parts: w.Parts[1:]})
			} else {
				p.word(w)
			}
			sep = " "
		}
		if !kw || len(first) > 1 {
			p.redirs(n.Redirs, sep)
		}
	case *Assign:
		p.b.WriteString(n.Name + "=")
		if n.Value == nil {
			p.b.WriteString("()")
		} else {
			p.word(n.Value)
		}
	case *Block:
		p.body(n.Lbrace, n.Stmts, n.Rbrace)
		p.redirs(n.Redirs, " ")
	case *Pipeline:
		for i, c := range n.Cmds {
			if i > 0 {
				p.b.WriteString(" |")
				if fd := n.Pipes[i-1].Fd; fd != 1 {
					p.b.WriteString("[" + strconv.Itoa(fd) + "]")
				}
				p.b.WriteByte(' ')
			}
			p.node(c)
		}
	case *AndOr:
		p.node(n.X)
		p.b.WriteString(" " + n.Op + " ")
		p.node(n.Y)
	case *Not:
		p.b.WriteString("! ")
		p.node(n.X)
	case *IfClause:
		p.b.WriteString("if(")
		p.condition(n.Cond)
		p.b.WriteString(") ")
		p.node(n.Then)
	case *IfNot:
		p.b.WriteString("if not ")
		p.node(n.Then)
	case *ForClause:
		p.b.WriteString("for(" + n.Name)
		if n.In {
			p.b.WriteString(" in")
			for _, w := range n.List {
				p.b.WriteByte(' ')
				p.word(w)
			}
		}
		p.b.WriteString(") ")
		p.node(n.Body)
	case *WhileClause:
		p.b.WriteString("while(")
		p.condition(n.Cond)
		p.b.WriteString(") ")
		p.node(n.Body)
	case *SwitchClause:
		p.b.WriteString("switch(")
		p.word(n.Word)
		p.b.WriteString(") {")
		p.cases(n)
		p.b.WriteByte('}')
		p.lastLine = n.Rbrace.Line
	case *FnDecl:
		p.b.WriteString("fn ")
		p.word(n.Name)
		if n.Body != nil {
			p.b.WriteByte(' ')
			p.node(n.Body)
		}
	case *SystemDecl:
		p.b.WriteString("system ")
		p.word(n.Name)
		p.b.WriteByte(' ')
		p.node(n.Body)
	case *SandboxDecl:
		p.b.WriteString("sandbox ")
		p.word(n.Name)
		p.b.WriteString(" {")
		p.rules(n)
		p.b.WriteByte('}')
		p.lastLine = n.Rbrace.Line
	case *Rule:
		p.b.WriteString(n.Verb)
		for _, w := range n.Args {
			p.b.WriteByte(' ')
			p.word(w)
		}
	case *Clone:
		p.b.WriteString("clone ")
		p.word(n.Src)
		p.b.WriteString(" as ")
		p.word(n.Dst)
		if n.Sandbox != nil {
			p.b.WriteString(" in ")
			p.word(n.Sandbox)
		}
	case *Include:
		p.b.WriteString(". ")
		p.word(n.Path)
		for _, w := range n.Args {
			p.b.WriteByte(' ')
			p.word(w)
		}
	case *Redirect:
		p.redirs([]*Redirect{n}, "")
	case *Word:
		p.word(n)
	case WordPart:
		p.word(&Word{Parts: []WordPart{n}})
	case *Comment:
		p.b.WriteString("#" + n.Text)
	case *CaseClause:
		p.b.WriteString("case")
		for _, w := range n.Patterns {
			p.b.WriteByte(' ')
			p.word(w)
		}
	}
}

// keywords are the words that start a clause where a command starts.
var keywords = map[string]bool{"!": true, "if": true, "for": true, "while": true, "switch": true,
	"fn": true, "system": true, "sandbox": true, "clone": true, ".": true, "case": true}

// condition prints the statements of if(...) and while(...), always on
// one line.
func (p *printer) condition(ss []*Stmt) {
	in := p.inline
	p.inline = true
	p.stmts(ss, true)
	p.inline = in
}

func (p *printer) cases(n *SwitchClause) {
	if p.inline {
		for i, c := range n.Cases {
			if i > 0 {
				p.b.WriteString("; ")
			}
			p.node(c)
			if len(c.Stmts) > 0 {
				p.b.WriteString("; ")
				p.stmts(c.Stmts, true)
			}
		}
		return
	}
	p.lastLine = -1
	for _, c := range n.Cases {
		p.flushComments(c.Case)
		p.line(c.Case.Line)
		p.node(c)
		end := c.Case
		if len(c.Patterns) > 0 {
			end = c.Patterns[len(c.Patterns)-1].End()
		}
		p.trailing(end)
		p.lastLine = -1
		p.indent++
		p.stmts(c.Stmts, false)
		p.indent--
	}
	p.flushComments(n.Rbrace)
	p.newline()
}

func (p *printer) rules(n *SandboxDecl) {
	if p.inline {
		for i, r := range n.Rules {
			if i > 0 {
				p.b.WriteString("; ")
			}
			p.node(r)
		}
		return
	}
	if len(n.Rules) == 0 && !p.commentsBefore(n.Rbrace) {
		return
	}
	p.indent++
	p.lastLine = -1
	for _, r := range n.Rules {
		p.flushComments(r.Pos())
		p.line(r.Pos().Line)
		p.node(r)
		p.lastLine = r.End().Line
		p.trailing(r.End())
	}
	p.flushComments(n.Rbrace)
	p.indent--
	p.newline()
}

func (p *printer) redirs(rs []*Redirect, sep string) {
	for _, r := range rs {
		p.b.WriteString(sep)
		sep = " "
		op := r.Op
		if op == ">=" {
			p.b.WriteString(">[" + strconv.Itoa(r.Fd) + "=" + strconv.Itoa(r.DupFd) + "]")
			continue
		}
		p.b.WriteString(op)
		if def := map[string]int{"<": 0, ">": 1, ">>": 1}[op]; r.Fd != def {
			p.b.WriteString("[" + strconv.Itoa(r.Fd) + "]")
		}
		p.b.WriteByte(' ')
		p.word(r.Word)
	}
}

func (p *printer) word(w *Word) {
	for i, part := range w.Parts {
		if i > 0 && needCaret(w.Parts[i-1], part) {
			p.b.WriteByte('^')
		}
		switch part := part.(type) {
		case *Lit:
			p.b.WriteString(part.Value)
		case *Quoted:
			p.b.WriteString(Quote(part.Value))
		case *Var:
			p.b.WriteByte('$')
			switch part.Kind {
			case VarCount:
				p.b.WriteByte('#')
			case VarJoin:
				p.b.WriteByte('"')
			}
			p.b.WriteString(part.Name)
			if part.Index != nil {
				p.word(&Word{Parts: []WordPart{part.Index}})
			}
		case *CmdSubst:
			p.b.WriteString("`")
			in := p.inline
			p.inline = true
			p.body(part.Backquote, part.Stmts, part.Rbrace)
			p.inline = in
		case *List:
			p.b.WriteByte('(')
			for i, w := range part.Words {
				if i > 0 {
					p.b.WriteByte(' ')
				}
				p.word(w)
			}
			p.b.WriteByte(')')
		}
	}
}

// needCaret reports whether parts a and b, printed side by side, would be
// read back as something else.
func needCaret(a, b WordPart) bool {
	switch a.(type) {
	case *Var:
		switch b := b.(type) {
		case *List:
			return true
		case *Lit:
			r, _ := utf8.DecodeRuneInString(b.Value)
			return isVarChar(r)
		}
	case *Quoted:
		_, ok := b.(*Quoted)
		return ok
	case *Lit:
		_, ok := b.(*Lit)
		return ok
	}
	return false
}

// Quote quotes s as rc does: a quote inside is written twice.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
