package lang

// A Node is a piece of a parsed script: it knows where it starts and where
// it ends (just past its last byte).
type Node interface {
	Pos() Pos
	End() Pos
}

// A File is a parsed script: its statements and its comments.
type File struct {
	Name     string
	Stmts    []*Stmt
	Comments []*Comment // all of them, in order, for the printer
	EndPos   Pos        // the end of the source
}

// A Comment is a # comment; Text is what follows the #.
type Comment struct {
	Hash Pos
	Text string
}

// A Stmt is a command with its terminator: it runs in the background when
// it ended with &.
type Stmt struct {
	Cmd        Command
	Background bool
	Amp        Pos // of the &, when Background
}

// A Command is one of the commands of the grammar: *CallExpr, *Block,
// *Pipeline, *AndOr, *Not, *IfClause, *IfNot, *ForClause, *WhileClause,
// *SwitchClause, *FnDecl, *SystemDecl, *SandboxDecl, *Clone or *Include.
type Command interface {
	Node
	commandNode()
}

// A CallExpr is a simple command: assignments, then words and
// redirections. With no words, the assignments are made in the shell
// (x=(a b c)); with words, they hold only for the command (x=1 cmd).
type CallExpr struct {
	Assigns []*Assign
	Args    []*Word
	Redirs  []*Redirect
}

// An Assign is name=value. A nil Value is the empty list, ().
type Assign struct {
	NamePos Pos
	Name    string
	Value   *Word
	end     Pos
}

// A Block is { statements }, with redirections that apply to all of it.
type Block struct {
	Lbrace, Rbrace Pos
	Stmts          []*Stmt
	Redirs         []*Redirect
}

// A Pipeline is commands joined by |: each one's output (or, with |[2],
// its error output) is the next one's input.
type Pipeline struct {
	Cmds  []Command
	Pipes []*Pipe // len(Cmds)-1 of them
}

// A Pipe is one | of a Pipeline; Fd is the descriptor it carries (1
// unless written |[2]).
type Pipe struct {
	OpPos Pos
	Fd    int
}

// An AndOr is X && Y or X || Y.
type AndOr struct {
	X     Command
	OpPos Pos
	Op    string // "&&" or "||"
	Y     Command
}

// A Not is ! X: it succeeds when X fails.
type Not struct {
	Bang Pos
	X    Command
}

// An IfClause is if(cond) then.
type IfClause struct {
	If, Rparen Pos
	Cond       []*Stmt
	Then       Command
}

// An IfNot is if not then: it runs then when the if before it did not.
type IfNot struct {
	If   Pos
	Then Command
}

// A ForClause is for(name in words) body, or for(name) body, which loops
// over $*.
type ForClause struct {
	For, Rparen Pos
	Name        string
	In          bool
	List        []*Word
	Body        Command
}

// A WhileClause is while(cond) body.
type WhileClause struct {
	While, Rparen Pos
	Cond          []*Stmt
	Body          Command
}

// A SwitchClause is switch(word) { case patterns ... }.
type SwitchClause struct {
	Switch, Rbrace Pos
	Word           *Word
	Cases          []*CaseClause
}

// A CaseClause is case patterns, then the statements up to the next case.
type CaseClause struct {
	Case     Pos
	Patterns []*Word
	Stmts    []*Stmt
	end      Pos
}

// A FnDecl is fn name { body }; without a body it deletes the function.
type FnDecl struct {
	Fn   Pos
	Name *Word
	Body *Block
}

// A SystemDecl is system name { body }: the body runs in the system's
// namespace, which it builds.
type SystemDecl struct {
	System Pos
	Name   *Word
	Body   *Block
}

// A SandboxDecl is sandbox name { rules }.
type SandboxDecl struct {
	Sandbox, Lbrace, Rbrace Pos
	Name                    *Word
	Rules                   []*Rule
}

// A Rule is one line of a sandbox: allow, readonly, devices, network or
// limit, and its arguments.
type Rule struct {
	VerbPos Pos
	Verb    string
	Args    []*Word
}

// SandboxVerbs are the verbs of a sandbox's rules.
var SandboxVerbs = []string{"allow", "readonly", "devices", "network", "limit"}

// A Clone is clone src as dst [in sandbox].
type Clone struct {
	Clone   Pos
	Src     *Word
	Dst     *Word
	Sandbox *Word // nil without "in"
}

// An Include is . file [args]: the file's commands run in this shell.
type Include struct {
	Dot  Pos
	Path *Word
	Args []*Word
}

// A Redirect is <, >, >> or a dup >[n=m]. Fd is the descriptor redirected
// (0 for <, 1 for > unless written >[n]); for a dup, DupFd is m and Word
// is nil.
type Redirect struct {
	OpPos Pos
	Op    string // "<", ">", ">>" or ">=" for a dup
	Fd    int
	DupFd int
	Word  *Word
	end   Pos
}

// A Word is one argument: parts concatenated, as rc's ^ concatenates
// (pairwise for lists of equal length, or distributing a single element).
type Word struct {
	Parts []WordPart
}

// A WordPart is a *Lit, *Quoted, *Var, *CmdSubst or *List.
type WordPart interface {
	Node
	wordPartNode()
}

// A Lit is unquoted text.
type Lit struct {
	ValuePos Pos
	Value    string
	end      Pos
}

// A Quoted is '...' text; Value is without the quotes.
type Quoted struct {
	Quote Pos
	Value string
	end   Pos
}

// A Var is $name, $#name (the count), $"name (the elements joined by
// spaces) or $name(subscripts).
type Var struct {
	Dollar Pos
	Name   string
	Kind   VarKind
	Index  *List // $name(...), or nil
	end    Pos
}

// VarKind says which of $x, $#x and $"x a Var is.
type VarKind int

// The kinds of Var.
const (
	VarValue VarKind = iota // $x
	VarCount                // $#x
	VarJoin                 // $"x
)

// A CmdSubst is `{ commands }: their output, split into words.
type CmdSubst struct {
	Backquote, Rbrace Pos
	Stmts             []*Stmt
}

// A List is ( words ), a list written out.
type List struct {
	Lparen, Rparen Pos
	Words          []*Word
}

func (f *File) Pos() Pos {
	if len(f.Stmts) > 0 {
		return f.Stmts[0].Pos()
	}
	return Pos{Line: 1, Col: 1}
}
func (f *File) End() Pos { return f.EndPos }

func (c *Comment) Pos() Pos { return c.Hash }
func (c *Comment) End() Pos {
	p := c.Hash
	p.Offset += 1 + len(c.Text)
	p.Col += 1 + len(c.Text)
	return p
}

func (s *Stmt) Pos() Pos { return s.Cmd.Pos() }
func (s *Stmt) End() Pos {
	if s.Background {
		return after(s.Amp, 1)
	}
	return s.Cmd.End()
}

func (c *CallExpr) Pos() Pos {
	p := Pos{}
	if len(c.Assigns) > 0 {
		p = c.Assigns[0].Pos()
	} else if len(c.Args) > 0 {
		p = c.Args[0].Pos()
	}
	if len(c.Redirs) > 0 && (!p.IsValid() || c.Redirs[0].Pos().Offset < p.Offset) {
		p = c.Redirs[0].Pos()
	}
	return p
}
func (c *CallExpr) End() Pos {
	var e Pos
	if len(c.Assigns) > 0 {
		e = c.Assigns[len(c.Assigns)-1].End()
	}
	if len(c.Args) > 0 {
		e = later(e, c.Args[len(c.Args)-1].End())
	}
	if len(c.Redirs) > 0 {
		e = later(e, c.Redirs[len(c.Redirs)-1].End())
	}
	return e
}

func (a *Assign) Pos() Pos { return a.NamePos }
func (a *Assign) End() Pos { return a.end }

func (b *Block) Pos() Pos { return b.Lbrace }
func (b *Block) End() Pos {
	if len(b.Redirs) > 0 {
		return b.Redirs[len(b.Redirs)-1].End()
	}
	return after(b.Rbrace, 1)
}

func (p *Pipeline) Pos() Pos { return p.Cmds[0].Pos() }
func (p *Pipeline) End() Pos { return p.Cmds[len(p.Cmds)-1].End() }

func (a *AndOr) Pos() Pos { return a.X.Pos() }
func (a *AndOr) End() Pos { return a.Y.End() }

func (n *Not) Pos() Pos { return n.Bang }
func (n *Not) End() Pos { return n.X.End() }

func (c *IfClause) Pos() Pos { return c.If }
func (c *IfClause) End() Pos { return c.Then.End() }

func (c *IfNot) Pos() Pos { return c.If }
func (c *IfNot) End() Pos { return c.Then.End() }

func (c *ForClause) Pos() Pos { return c.For }
func (c *ForClause) End() Pos { return c.Body.End() }

func (c *WhileClause) Pos() Pos { return c.While }
func (c *WhileClause) End() Pos { return c.Body.End() }

func (c *SwitchClause) Pos() Pos { return c.Switch }
func (c *SwitchClause) End() Pos { return after(c.Rbrace, 1) }

func (c *CaseClause) Pos() Pos { return c.Case }
func (c *CaseClause) End() Pos { return c.end }

func (d *FnDecl) Pos() Pos { return d.Fn }
func (d *FnDecl) End() Pos {
	if d.Body != nil {
		return d.Body.End()
	}
	return d.Name.End()
}

func (d *SystemDecl) Pos() Pos { return d.System }
func (d *SystemDecl) End() Pos { return d.Body.End() }

func (d *SandboxDecl) Pos() Pos { return d.Sandbox }
func (d *SandboxDecl) End() Pos { return after(d.Rbrace, 1) }

func (r *Rule) Pos() Pos { return r.VerbPos }
func (r *Rule) End() Pos {
	if len(r.Args) > 0 {
		return r.Args[len(r.Args)-1].End()
	}
	return after(r.VerbPos, len(r.Verb))
}

func (c *Clone) Pos() Pos { return c.Clone }
func (c *Clone) End() Pos {
	if c.Sandbox != nil {
		return c.Sandbox.End()
	}
	return c.Dst.End()
}

func (c *Include) Pos() Pos { return c.Dot }
func (c *Include) End() Pos {
	if len(c.Args) > 0 {
		return c.Args[len(c.Args)-1].End()
	}
	return c.Path.End()
}

func (r *Redirect) Pos() Pos { return r.OpPos }
func (r *Redirect) End() Pos { return r.end }

func (w *Word) Pos() Pos { return w.Parts[0].Pos() }
func (w *Word) End() Pos { return w.Parts[len(w.Parts)-1].End() }

func (l *Lit) Pos() Pos            { return l.ValuePos }
func (l *Lit) End() Pos            { return l.end }
func (q *Quoted) Pos() Pos         { return q.Quote }
func (q *Quoted) End() Pos         { return q.end }
func (v *Var) Pos() Pos            { return v.Dollar }
func (v *Var) End() Pos            { return v.end }
func (c *CmdSubst) Pos() Pos       { return c.Backquote }
func (c *CmdSubst) End() Pos       { return after(c.Rbrace, 1) }
func (l *List) Pos() Pos           { return l.Lparen }
func (l *List) End() Pos           { return after(l.Rparen, 1) }
func (*CallExpr) commandNode()     {}
func (*Block) commandNode()        {}
func (*Pipeline) commandNode()     {}
func (*AndOr) commandNode()        {}
func (*Not) commandNode()          {}
func (*IfClause) commandNode()     {}
func (*IfNot) commandNode()        {}
func (*ForClause) commandNode()    {}
func (*WhileClause) commandNode()  {}
func (*SwitchClause) commandNode() {}
func (*FnDecl) commandNode()       {}
func (*SystemDecl) commandNode()   {}
func (*SandboxDecl) commandNode()  {}
func (*Clone) commandNode()        {}
func (*Include) commandNode()      {}
func (*Lit) wordPartNode()         {}
func (*Quoted) wordPartNode()      {}
func (*Var) wordPartNode()         {}
func (*CmdSubst) wordPartNode()    {}
func (*List) wordPartNode()        {}

// after returns the position n bytes after p on the same line.
func after(p Pos, n int) Pos {
	p.Offset += n
	p.Col += n
	return p
}

func later(a, b Pos) Pos {
	if b.Offset > a.Offset {
		return b
	}
	return a
}

// Lit returns the word's text when it is one unquoted literal, and
// whether it is.
func (w *Word) Lit() (string, bool) {
	if len(w.Parts) != 1 {
		return "", false
	}
	l, ok := w.Parts[0].(*Lit)
	if !ok {
		return "", false
	}
	return l.Value, true
}
