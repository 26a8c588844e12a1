package lang

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A ParseError is a syntax error, printed as file:line:col: text.
// Incomplete is set when the input ended where more was expected (an open
// brace or quote, a trailing | or &&), so that more input might cure it.
type ParseError struct {
	Filename   string
	Pos        Pos
	Text       string
	Incomplete bool
}

func (e *ParseError) Error() string {
	if e.Filename == "" {
		return fmt.Sprintf("%d:%d: %s", e.Pos.Line, e.Pos.Col, e.Text)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.Filename, e.Pos.Line, e.Pos.Col, e.Text)
}

// IsIncomplete reports whether err is a ParseError for input that ended
// too soon: a shell reading lines asks for another and parses again.
func IsIncomplete(err error) bool {
	var pe *ParseError
	return errors.As(err, &pe) && pe.Incomplete
}

// Parse parses a script; name names it in errors. The error, if any, is
// a *ParseError.
func Parse(src []byte, name string) (f *File, err error) {
	p := &parser{l: newLexer(string(src)), name: name}
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(*ParseError)
			if !ok {
				panic(r)
			}
			f, err = nil, pe
		}
	}()
	p.advance()
	f = &File{Name: name}
	f.Stmts = p.stmtList(func(item) bool { return false })
	if p.tok.typ != itemEOF {
		p.unexpected()
	}
	f.EndPos = p.tok.pos
	f.Comments = p.comments
	return f, nil
}

// parser is a recursive-descent parser over the lexer's items, with one
// item of lookahead beyond the current one. Errors panic with a
// *ParseError, which Parse recovers.
type parser struct {
	l        *lexer
	name     string
	tok      item   // the current item
	ahead    []item // items read past tok
	comments []*Comment
}

// read returns the next item that is not a comment, keeping comments.
func (p *parser) read() item {
	for {
		it := p.l.nextItem()
		if it.typ == itemComment {
			p.comments = append(p.comments, &Comment{Hash: it.pos, Text: it.text})
			continue
		}
		if it.typ == itemError {
			p.fail(it.pos, it.incomplete, "%s", it.text)
		}
		return it
	}
}

func (p *parser) advance() {
	if len(p.ahead) > 0 {
		p.tok, p.ahead = p.ahead[0], p.ahead[1:]
		return
	}
	p.tok = p.read()
}

func (p *parser) peek() item {
	if len(p.ahead) == 0 {
		p.ahead = append(p.ahead, p.read())
	}
	return p.ahead[0]
}

func (p *parser) fail(pos Pos, incomplete bool, format string, args ...any) {
	panic(&ParseError{Filename: p.name, Pos: pos, Text: fmt.Sprintf(format, args...), Incomplete: incomplete})
}

// unexpected fails on the current item.
func (p *parser) unexpected() {
	if p.tok.typ == itemEOF {
		p.fail(p.tok.pos, true, "unexpected end of input")
	}
	p.fail(p.tok.pos, false, "unexpected %v", p.tok)
}

// expect checks that the current item is of type t and moves past it,
// returning its position.
func (p *parser) expect(t itemType, what string) Pos {
	if p.tok.typ != t {
		if p.tok.typ == itemEOF {
			p.fail(p.tok.pos, true, "unexpected end of input; want %s", what)
		}
		p.fail(p.tok.pos, false, "unexpected %v; want %s", p.tok, what)
	}
	pos := p.tok.pos
	p.advance()
	return pos
}

func (p *parser) skipNewlines() {
	for p.tok.typ == itemNewline {
		p.advance()
	}
}

// isKeyword reports whether the current item is the unquoted word kw
// standing alone, not glued to what follows.
func (p *parser) isKeyword(kw string) bool {
	if p.tok.typ != itemLit || p.tok.text != kw {
		return false
	}
	nx := p.peek()
	return nx.pos.Offset != p.tok.end.Offset || !startsWord(nx.typ) && nx.typ != itemCaret
}

// startsWord reports whether an item of type t begins (or continues) a word.
func startsWord(t itemType) bool {
	switch t {
	case itemLit, itemQuoted, itemVar, itemCount, itemJoin, itemBackquote, itemLParen:
		return true
	}
	return false
}

// stmtList parses statements up to an item that stop accepts, a '}', a
// ')' or the end.
func (p *parser) stmtList(stop func(item) bool) []*Stmt {
	var stmts []*Stmt
	for {
		for p.tok.typ == itemNewline || p.tok.typ == itemSemi {
			p.advance()
		}
		switch p.tok.typ {
		case itemEOF, itemRBrace, itemRParen:
			return stmts
		}
		if stop(p.tok) {
			return stmts
		}
		s := &Stmt{Cmd: p.andOr()}
		switch p.tok.typ {
		case itemAmp:
			s.Background, s.Amp = true, p.tok.pos
			p.advance()
		case itemSemi, itemNewline, itemEOF, itemRBrace, itemRParen:
		default:
			if !stop(p.tok) {
				p.unexpected()
			}
		}
		stmts = append(stmts, s)
	}
}

func (p *parser) andOr() Command {
	x := p.pipeline()
	for p.tok.typ == itemAndAnd || p.tok.typ == itemOrOr {
		a := &AndOr{X: x, OpPos: p.tok.pos, Op: p.tok.text}
		p.advance()
		p.skipNewlines()
		a.Y = p.pipeline()
		x = a
	}
	return x
}

func (p *parser) pipeline() Command {
	if p.isKeyword("!") {
		n := &Not{Bang: p.tok.pos}
		p.advance()
		n.X = p.pipeline()
		return n
	}
	c := p.command()
	if p.tok.typ != itemPipe {
		return c
	}
	pl := &Pipeline{Cmds: []Command{c}}
	for p.tok.typ == itemPipe {
		pipe := &Pipe{OpPos: p.tok.pos, Fd: 1}
		if fds := strings.TrimPrefix(p.tok.text, "|"); fds != "" {
			n, err := strconv.Atoi(fds[1 : len(fds)-1])
			if err != nil {
				p.fail(p.tok.pos, false, "bad file descriptor in %s", p.tok.text)
			}
			pipe.Fd = n
		}
		p.advance()
		p.skipNewlines()
		pl.Pipes = append(pl.Pipes, pipe)
		pl.Cmds = append(pl.Cmds, p.command())
	}
	return pl
}

// body parses the command after if(...), for(...), while(...) and if
// not: one command, which may be a pipeline or an && chain.
func (p *parser) body() Command {
	p.skipNewlines()
	return p.andOr()
}

func (p *parser) command() Command {
	switch p.tok.typ {
	case itemLBrace:
		b := p.block()
		b.Redirs = p.redirs()
		return b
	case itemLit:
		nx := p.peek()
		switch p.tok.text {
		case "if", "for", "while", "switch":
			if nx.typ == itemLParen {
				return p.keywordClause()
			}
			if p.tok.text == "if" && nx.typ == itemLit && nx.text == "not" {
				c := &IfNot{If: p.tok.pos}
				p.advance()
				p.advance()
				c.Then = p.body()
				return c
			}
		case "fn":
			if p.isKeyword("fn") {
				return p.fnDecl()
			}
		case "system":
			if p.isKeyword("system") {
				d := &SystemDecl{System: p.tok.pos}
				p.advance()
				d.Name = p.word("a system name")
				d.Body = p.block()
				return d
			}
		case "sandbox":
			if p.isKeyword("sandbox") {
				return p.sandboxDecl()
			}
		case "clone":
			if p.isKeyword("clone") {
				return p.clone()
			}
		case ".":
			if p.isKeyword(".") {
				c := &Include{Dot: p.tok.pos}
				p.advance()
				c.Path = p.word("a file name")
				for startsWord(p.tok.typ) {
					c.Args = append(c.Args, p.word("a word"))
				}
				return c
			}
		}
	}
	return p.simple()
}

// keywordClause parses if(...), for(...), while(...) and switch(...).
func (p *parser) keywordClause() Command {
	kw, pos := p.tok.text, p.tok.pos
	p.advance() // the keyword
	p.advance() // (
	switch kw {
	case "if":
		c := &IfClause{If: pos}
		c.Cond = p.stmtList(func(item) bool { return false })
		c.Rparen = p.expect(itemRParen, "')'")
		c.Then = p.body()
		return c
	case "while":
		c := &WhileClause{While: pos}
		c.Cond = p.stmtList(func(item) bool { return false })
		c.Rparen = p.expect(itemRParen, "')'")
		c.Body = p.body()
		return c
	case "for":
		c := &ForClause{For: pos}
		if p.tok.typ != itemLit || !isName(p.tok.text) {
			if p.tok.typ == itemEOF {
				p.unexpected()
			}
			p.fail(p.tok.pos, false, "for: want a variable name, found %v", p.tok)
		}
		c.Name = p.tok.text
		p.advance()
		if p.isKeyword("in") {
			c.In = true
			p.advance()
			for startsWord(p.tok.typ) || p.tok.typ == itemNewline {
				if p.tok.typ == itemNewline {
					p.advance()
					continue
				}
				c.List = append(c.List, p.word("a word"))
			}
		}
		c.Rparen = p.expect(itemRParen, "')'")
		c.Body = p.body()
		return c
	}
	c := &SwitchClause{Switch: pos}
	c.Word = p.word("a word")
	p.expect(itemRParen, "')'")
	p.skipNewlines()
	p.expect(itemLBrace, "'{'")
	isCase := func(item) bool { return p.isKeyword("case") }
	for {
		for p.tok.typ == itemNewline || p.tok.typ == itemSemi {
			p.advance()
		}
		if p.tok.typ == itemRBrace {
			break
		}
		if !p.isKeyword("case") {
			if p.tok.typ == itemEOF {
				p.unexpected()
			}
			p.fail(p.tok.pos, false, "switch: want case, found %v", p.tok)
		}
		cc := &CaseClause{Case: p.tok.pos}
		cc.end = p.tok.end
		p.advance()
		for startsWord(p.tok.typ) {
			w := p.word("a pattern")
			cc.Patterns = append(cc.Patterns, w)
			cc.end = w.End()
		}
		cc.Stmts = p.stmtList(isCase)
		if n := len(cc.Stmts); n > 0 {
			cc.end = cc.Stmts[n-1].End()
		}
		c.Cases = append(c.Cases, cc)
	}
	c.Rbrace = p.expect(itemRBrace, "'}'")
	return c
}

func (p *parser) fnDecl() Command {
	d := &FnDecl{Fn: p.tok.pos}
	p.advance()
	d.Name = p.word("a function name")
	if p.tok.typ == itemLBrace {
		d.Body = p.block()
	}
	return d
}

func (p *parser) sandboxDecl() Command {
	d := &SandboxDecl{Sandbox: p.tok.pos}
	p.advance()
	d.Name = p.word("a sandbox name")
	d.Lbrace = p.expect(itemLBrace, "'{'")
	for {
		for p.tok.typ == itemNewline || p.tok.typ == itemSemi {
			p.advance()
		}
		if p.tok.typ == itemRBrace || p.tok.typ == itemEOF {
			break
		}
		if p.tok.typ != itemLit || !isSandboxVerb(p.tok.text) {
			p.fail(p.tok.pos, false, "sandbox: unknown rule %v; want one of %s",
				p.tok, strings.Join(SandboxVerbs, ", "))
		}
		r := &Rule{VerbPos: p.tok.pos, Verb: p.tok.text}
		p.advance()
		for startsWord(p.tok.typ) {
			r.Args = append(r.Args, p.word("a word"))
		}
		d.Rules = append(d.Rules, r)
	}
	d.Rbrace = p.expect(itemRBrace, "'}'")
	return d
}

func isSandboxVerb(s string) bool {
	for _, v := range SandboxVerbs {
		if v == s {
			return true
		}
	}
	return false
}

func (p *parser) clone() Command {
	c := &Clone{Clone: p.tok.pos}
	p.advance()
	c.Src = p.word("the system to clone")
	if !p.isKeyword("as") {
		if p.tok.typ == itemEOF {
			p.unexpected()
		}
		p.fail(p.tok.pos, false, "clone: want 'as', found %v", p.tok)
	}
	p.advance()
	c.Dst = p.word("the new system's name")
	if p.isKeyword("in") {
		p.advance()
		c.Sandbox = p.word("a sandbox name")
	}
	return c
}

func (p *parser) block() *Block {
	b := &Block{Lbrace: p.expect(itemLBrace, "'{'")}
	b.Stmts = p.stmtList(func(item) bool { return false })
	b.Rbrace = p.expect(itemRBrace, "'}'")
	return b
}

// simple parses a simple command: assignments, words and redirections.
func (p *parser) simple() Command {
	c := &CallExpr{}
	for {
		switch {
		case p.tok.typ == itemRedir:
			c.Redirs = append(c.Redirs, p.redirect())
		case startsWord(p.tok.typ):
			w := p.word("a word")
			if len(c.Args) == 0 {
				if a := assignment(w); a != nil {
					c.Assigns = append(c.Assigns, a)
					continue
				}
			}
			c.Args = append(c.Args, w)
		default:
			if len(c.Assigns) == 0 && len(c.Args) == 0 && len(c.Redirs) == 0 {
				p.unexpected()
			}
			if len(c.Args) == 0 && len(c.Redirs) > 0 {
				p.fail(c.Redirs[0].Pos(), false, "redirection without a command")
			}
			return c
		}
	}
}

// assignment turns the word name=value into an Assign, or returns nil
// when w is not one.
func assignment(w *Word) *Assign {
	l, ok := w.Parts[0].(*Lit)
	if !ok {
		return nil
	}
	name, rest, ok := strings.Cut(l.Value, "=")
	if !ok || !isName(name) {
		return nil
	}
	a := &Assign{NamePos: l.ValuePos, Name: name, end: w.End()}
	var parts []WordPart
	if rest != "" {
		start := after(l.ValuePos, len(name)+1)
		parts = append(parts, &Lit{ValuePos: start, Value: rest, end: l.end})
	}
	parts = append(parts, w.Parts[1:]...)
	if len(parts) == 1 {
		if ls, ok := parts[0].(*List); ok && len(ls.Words) == 0 {
			parts = nil // x=() is the empty list
		}
	}
	if len(parts) > 0 {
		a.Value = &Word{Parts: parts}
	}
	return a
}

// isName reports whether s is a variable's name.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !isVarChar(r) {
			return false
		}
	}
	return true
}

func (p *parser) redirs() []*Redirect {
	var rs []*Redirect
	for p.tok.typ == itemRedir {
		rs = append(rs, p.redirect())
	}
	return rs
}

// redirect parses <, >, >>, >[n] file, or >[n=m].
func (p *parser) redirect() *Redirect {
	t := p.tok
	r := &Redirect{OpPos: t.pos, end: t.end}
	op, fds, _ := strings.Cut(t.text, "[")
	r.Op = op
	r.Fd = 1
	if op == "<" {
		r.Fd = 0
	}
	p.advance()
	if fds != "" {
		fds = strings.TrimSuffix(fds, "]")
		a, b, dup := strings.Cut(fds, "=")
		n, err := strconv.Atoi(a)
		if err != nil {
			p.fail(t.pos, false, "bad file descriptor in %s", t.text)
		}
		r.Fd = n
		if dup {
			m, err := strconv.Atoi(b)
			if err != nil || op == "<" {
				p.fail(t.pos, false, "bad redirection %s: want >[n=m]", t.text)
			}
			r.Op, r.DupFd = ">=", m
			return r
		}
	}
	if !startsWord(p.tok.typ) {
		if p.tok.typ == itemEOF {
			p.fail(p.tok.pos, true, "unexpected end of input; want a file name after %s", t.text)
		}
		p.fail(p.tok.pos, false, "unexpected %v; want a file name after %s", p.tok, t.text)
	}
	r.Word = p.word("a file name")
	r.end = r.Word.End()
	return r
}

// word parses a word: parts glued together, with ^ or by standing side by
// side (rc's free carets).
func (p *parser) word(what string) *Word {
	if !startsWord(p.tok.typ) {
		if p.tok.typ == itemEOF {
			p.fail(p.tok.pos, true, "unexpected end of input; want %s", what)
		}
		p.fail(p.tok.pos, false, "unexpected %v; want %s", p.tok, what)
	}
	w := &Word{}
	for {
		part := p.wordPart()
		// Merge neighbouring literals, so that a^b and ab are one.
		if l, ok := part.(*Lit); ok && len(w.Parts) > 0 {
			if prev, ok := w.Parts[len(w.Parts)-1].(*Lit); ok {
				prev.Value += l.Value
				prev.end = l.end
				goto next
			}
		}
		w.Parts = append(w.Parts, part)
	next:
		end := w.Parts[len(w.Parts)-1].End()
		switch {
		case p.tok.typ == itemCaret:
			p.advance()
			if !startsWord(p.tok.typ) {
				if p.tok.typ == itemEOF {
					p.fail(p.tok.pos, true, "unexpected end of input after ^")
				}
				p.fail(p.tok.pos, false, "unexpected %v after ^", p.tok)
			}
		case startsWord(p.tok.typ) && p.tok.pos.Offset == end.Offset:
		default:
			return w
		}
	}
}

func (p *parser) wordPart() WordPart {
	t := p.tok
	switch t.typ {
	case itemLit:
		p.advance()
		return &Lit{ValuePos: t.pos, Value: t.text, end: t.end}
	case itemQuoted:
		p.advance()
		return &Quoted{Quote: t.pos, Value: t.text, end: t.end}
	case itemVar, itemCount, itemJoin:
		v := &Var{Dollar: t.pos, Name: t.text, end: t.end}
		v.Kind = map[itemType]VarKind{itemVar: VarValue, itemCount: VarCount, itemJoin: VarJoin}[t.typ]
		p.advance()
		if v.Kind == VarValue && p.tok.typ == itemLParen && p.tok.pos.Offset == t.end.Offset {
			v.Index = p.list()
			v.end = v.Index.End()
		}
		return v
	case itemBackquote:
		c := &CmdSubst{Backquote: t.pos}
		p.advance()
		p.expect(itemLBrace, "'{'")
		c.Stmts = p.stmtList(func(item) bool { return false })
		c.Rbrace = p.expect(itemRBrace, "'}'")
		return c
	case itemLParen:
		return p.list()
	}
	p.unexpected()
	return nil
}

// list parses ( words ); newlines inside are blanks.
func (p *parser) list() *List {
	l := &List{Lparen: p.expect(itemLParen, "'('")}
	for {
		p.skipNewlines()
		if !startsWord(p.tok.typ) {
			break
		}
		l.Words = append(l.Words, p.word("a word"))
	}
	l.Rparen = p.expect(itemRParen, "')'")
	return l
}
