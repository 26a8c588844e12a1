package lang

import (
	"fmt"
	"strings"
	"testing"
)

// dump prints a node as a compact tree, so that tables can say what a
// parse should give without spelling out positions.
func dump(n Node) string {
	switch n := n.(type) {
	case *File:
		return dumpStmts(n.Stmts)
	case *Stmt:
		s := dump(n.Cmd)
		if n.Background {
			s = "bg(" + s + ")"
		}
		return s
	case *CallExpr:
		var parts []string
		for _, a := range n.Assigns {
			v := "()"
			if a.Value != nil {
				v = dump(a.Value)
			}
			parts = append(parts, a.Name+"="+v)
		}
		for _, w := range n.Args {
			parts = append(parts, dump(w))
		}
		for _, r := range n.Redirs {
			parts = append(parts, dump(r))
		}
		return "call(" + strings.Join(parts, " ") + ")"
	case *Redirect:
		if n.Op == ">=" {
			return fmt.Sprintf("dup(%d=%d)", n.Fd, n.DupFd)
		}
		return fmt.Sprintf("redir(%s%d %s)", n.Op, n.Fd, dump(n.Word))
	case *Block:
		s := "block(" + dumpStmts(n.Stmts) + ")"
		for _, r := range n.Redirs {
			s += dump(r)
		}
		return s
	case *Pipeline:
		var parts []string
		for i, c := range n.Cmds {
			if i > 0 && n.Pipes[i-1].Fd != 1 {
				parts = append(parts, fmt.Sprintf("|%d", n.Pipes[i-1].Fd))
			}
			parts = append(parts, dump(c))
		}
		return "pipe(" + strings.Join(parts, " ") + ")"
	case *AndOr:
		return n.Op + "(" + dump(n.X) + " " + dump(n.Y) + ")"
	case *Not:
		return "not(" + dump(n.X) + ")"
	case *IfClause:
		return "if(" + dumpStmts(n.Cond) + ")(" + dump(n.Then) + ")"
	case *IfNot:
		return "ifnot(" + dump(n.Then) + ")"
	case *ForClause:
		var ws []string
		for _, w := range n.List {
			ws = append(ws, dump(w))
		}
		in := ""
		if n.In {
			in = " in " + strings.Join(ws, " ")
		}
		return "for(" + n.Name + in + ")(" + dump(n.Body) + ")"
	case *WhileClause:
		return "while(" + dumpStmts(n.Cond) + ")(" + dump(n.Body) + ")"
	case *SwitchClause:
		s := "switch(" + dump(n.Word) + ")"
		for _, c := range n.Cases {
			var ps []string
			for _, p := range c.Patterns {
				ps = append(ps, dump(p))
			}
			s += "case(" + strings.Join(ps, " ") + ": " + dumpStmts(c.Stmts) + ")"
		}
		return s
	case *FnDecl:
		if n.Body == nil {
			return "fn(" + dump(n.Name) + ")"
		}
		return "fn(" + dump(n.Name) + " " + dump(n.Body) + ")"
	case *SystemDecl:
		return "system(" + dump(n.Name) + " " + dump(n.Body) + ")"
	case *SandboxDecl:
		var rs []string
		for _, r := range n.Rules {
			var ws []string
			for _, w := range r.Args {
				ws = append(ws, dump(w))
			}
			rs = append(rs, r.Verb+"["+strings.Join(ws, " ")+"]")
		}
		return "sandbox(" + dump(n.Name) + " " + strings.Join(rs, " ") + ")"
	case *Clone:
		s := "clone(" + dump(n.Src) + " " + dump(n.Dst)
		if n.Sandbox != nil {
			s += " in " + dump(n.Sandbox)
		}
		return s + ")"
	case *Include:
		s := "include(" + dump(n.Path)
		for _, w := range n.Args {
			s += " " + dump(w)
		}
		return s + ")"
	case *Word:
		var ps []string
		for _, p := range n.Parts {
			ps = append(ps, dump(p))
		}
		return strings.Join(ps, "^")
	case *Lit:
		return n.Value
	case *Quoted:
		return "q" + Quote(n.Value)
	case *Var:
		s := map[VarKind]string{VarValue: "$", VarCount: "$#", VarJoin: "$\""}[n.Kind] + n.Name
		if n.Index != nil {
			s += dump(n.Index)
		}
		return s
	case *CmdSubst:
		return "`{" + dumpStmts(n.Stmts) + "}"
	case *List:
		var ws []string
		for _, w := range n.Words {
			ws = append(ws, dump(w))
		}
		return "(" + strings.Join(ws, " ") + ")"
	}
	return fmt.Sprintf("?%T", n)
}

func dumpStmts(ss []*Stmt) string {
	var parts []string
	for _, s := range ss {
		parts = append(parts, dump(s))
	}
	return strings.Join(parts, "; ")
}

// parseTests are scripts and the trees they parse to. They also seed
// FuzzParse.
var parseTests = []struct{ src, want string }{
	{"", ""},
	{"echo hello world", "call(echo hello world)"},
	{"echo a; echo b\necho c", "call(echo a); call(echo b); call(echo c)"},
	{"# only a comment\n", ""},
	{"echo a # not an argument", "call(echo a)"},
	{"echo a#b", "call(echo a)"},
	{"echo 'it''s' ''", "call(echo q'it''s' q'')"},
	{"echo 'a\nb'", "call(echo q'a\nb')"},
	{"echo a^b a^'b' $x^.c", "call(echo ab a^q'b' $x^.c)"},
	{"echo $x.c $x'y' `{ls}.txt", "call(echo $x^.c $x^q'y' `{call(ls)}^.txt)"},
	{"echo $x $#x $\"x $x(2) $x(1 3) $*", "call(echo $x $#x $\"x $x(2) $x(1 3) $*)"},
	{"echo $x (a b) $x^(a b)", "call(echo $x (a b) $x^(a b))"},
	{"x=(a b c)", "call(x=(a b c))"},
	{"x=() y=", "call(x=() y=())"},
	{"x=1 y=$z cmd arg", "call(x=1 y=$z cmd arg)"},
	{"x=a^$b", "call(x=a^$b)"},
	{"echo x=1", "call(echo x=1)"},
	{"echo -n `{cat /tmp/x}", "call(echo -n `{call(cat /tmp/x)})"},
	{"echo `{a; b | c}", "call(echo `{call(a); pipe(call(b) call(c))})"},
	{"cat < in > out", "call(cat redir(<0 in) redir(>1 out))"},
	{"cat >> log >[2] err >[2=1]", "call(cat redir(>>1 log) redir(>2 err) dup(2=1))"},
	{"> out echo hi", "call(echo hi redir(>1 out))"},
	{"a | b |[2] c", "pipe(call(a) call(b) |2 call(c))"},
	{"a |\n\tb", "pipe(call(a) call(b))"},
	{"a && b || c", "||(&&(call(a) call(b)) call(c))"},
	{"a &&\nb", "&&(call(a) call(b))"},
	{"! a | b && c", "&&(not(pipe(call(a) call(b))) call(c))"},
	{"a & b &", "bg(call(a)); bg(call(b))"},
	{"{a; b} > f", "block(call(a); call(b))redir(>1 f)"},
	{"{\n}", "block()"},
	{"if(~ $x a) echo yes", "if(call(~ $x a))(call(echo yes))"},
	{"if (test) {\n\techo a\n}\nif not echo b", "if(call(test))(block(call(echo a))); ifnot(call(echo b))"},
	{"if(a)\n\techo b && echo c", "if(call(a))(&&(call(echo b) call(echo c)))"},
	{"for(i in a b c) echo $i", "for(i in a b c)(call(echo $i))"},
	{"for(i) echo $i", "for(i)(call(echo $i))"},
	{"for(i in\n a\n b) echo $i", "for(i in a b)(call(echo $i))"},
	{"while(~ $x a) x=b", "while(call(~ $x a))(call(x=b))"},
	{"switch($x) {\ncase a b\n\techo ab\ncase *\n\techo other\n}",
		"switch($x)case(a b: call(echo ab))case(*: call(echo other))"},
	{"switch($x){case a; echo a}", "switch($x)case(a: call(echo a))"},
	{"fn greet { echo hello $1 }", "fn(greet block(call(echo hello $1)))"},
	{"fn greet", "fn(greet)"},
	{"echo fn if for", "call(echo fn if for)"},
	{"'if'(x)", "call(q'if'^(x))"},
	{". /lib/profile a b", "include(/lib/profile a b)"},
	{"system web {\n\tmount ramfs /tmp\n}", "system(web block(call(mount ramfs /tmp)))"},
	{"sandbox offline {\n\tallow /tmp /log\n\treadonly /www; network none\n\tlimit memory 64M processes 32\n}",
		"sandbox(offline allow[/tmp /log] readonly[/www] network[none] limit[memory 64M processes 32])"},
	{"sandbox empty {}", "sandbox(empty )"},
	{"clone web as web2", "clone(web web2)"},
	{"clone web as web2 in offline", "clone(web web2 in offline)"},
	{"clone $a as $b^2 in $c", "clone($a $b^2 in $c)"},
	{"echo a\\\nb", "call(echo a b)"},
	{"tcp!host!564 x-y 64M a.b/c:d @e", "call(tcp!host!564 x-y 64M a.b/c:d @e)"},
	{"echo {}", ""}, // an error: see parseErrors
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		if tt.src == "echo {}" {
			continue
		}
		f, err := Parse([]byte(tt.src), "t")
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.src, err)
			continue
		}
		if got := dump(f); got != tt.want {
			t.Errorf("Parse(%q) = %s; want %s", tt.src, got, tt.want)
		}
	}
}

var parseErrors = []struct {
	src, want  string
	incomplete bool
}{
	{"echo {", "t:1:6: unexpected '{'", false},
	{"echo }", "t:1:6: unexpected '}'", false},
	{"echo )", "t:1:6: unexpected ')'", false},
	{"{ echo", "t:1:7: unexpected end of input; want '}'", true},
	{"{\n\techo a\n", "t:3:1: unexpected end of input; want '}'", true},
	{"a |", "t:1:4: unexpected end of input", true},
	{"a |\n", "t:2:1: unexpected end of input", true},
	{"a &&", "t:1:5: unexpected end of input", true},
	{"a ||\n\n", "t:3:1: unexpected end of input", true},
	{"echo 'abc", "t:1:6: unterminated quote", true},
	{"echo 'a\nb\n", "t:1:6: unterminated quote", true},
	{"if(x", "t:1:5: unexpected end of input; want ')'", true},
	{"if(x)", "t:1:6: unexpected end of input", true},
	{"for(i in a b", "t:1:13: unexpected end of input; want ')'", true},
	{"x=(a", "t:1:5: unexpected end of input; want ')'", true},
	{"echo `{ls", "t:1:10: unexpected end of input; want '}'", true},
	{"echo >", "t:1:7: unexpected end of input; want a file name after >", true},
	{"echo >\n", "t:1:7: unexpected newline; want a file name after >", false},
	{"echo a >[x] b", "t:1:8: bad file descriptor in >[x", false},
	{"echo a >[2=] b", "t:1:8: bad redirection >[2=]: want >[n=m]", false},
	{"echo `ls`", "t:1:6: ` must be followed by {", false},
	{"echo $", "t:1:6: $ without a variable name", false},
	{"echo a^", "t:1:8: unexpected end of input after ^", true},
	{"echo a^;", "t:1:8: unexpected ';' after ^", false},
	{"for(1 2) x", "t:1:7: unexpected \"2\"; want ')'", false},
	{"for('i') x", "t:1:5: for: want a variable name, found quoted word", false},
	{"switch(x) { echo a }", "t:1:13: switch: want case, found \"echo\"", false},
	{"switch(x) {\ncase a\n", "t:3:1: unexpected end of input", true},
	{"sandbox s {\n\tallow /a\n\tfrob /b\n}", "t:3:2: sandbox: unknown rule \"frob\"; want one of allow, readonly, devices, network, limit", false},
	{"sandbox s { allow", "t:1:18: unexpected end of input; want '}'", true},
	{"clone a b", "t:1:9: clone: want 'as', found \"b\"", false},
	{"clone a as", "t:1:11: unexpected end of input; want the new system's name", true},
	{"system { }", "t:1:8: unexpected '{'; want a system name", false},
	{"> f", "t:1:1: redirection without a command", false},
	{"a ; ; && b", "t:1:7: unexpected '&&'", false},
	{"echo {}", "t:1:6: unexpected '{'", false},
}

func TestParseErrors(t *testing.T) {
	for _, tt := range parseErrors {
		_, err := Parse([]byte(tt.src), "t")
		if err == nil {
			t.Errorf("Parse(%q) succeeded; want %s", tt.src, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q) error = %s; want %s", tt.src, err, tt.want)
		}
		if IsIncomplete(err) != tt.incomplete {
			t.Errorf("IsIncomplete(Parse(%q)) = %v; want %v", tt.src, IsIncomplete(err), tt.incomplete)
		}
	}
}

func TestPositions(t *testing.T) {
	src := "x=(a b)\nif(~ $x a) {\n\tcat /tmp/y | wc >[2=1] &\n}\n"
	f, err := Parse([]byte(src), "t")
	if err != nil {
		t.Fatal(err)
	}
	ifc := f.Stmts[1].Cmd.(*IfClause)
	stmt := ifc.Then.(*Block).Stmts[0]
	pl := stmt.Cmd.(*Pipeline)
	for _, tt := range []struct {
		n          Node
		pos, end   string
		start, fin int
	}{
		{f.Stmts[0], "1:1", "1:8", 0, 7},
		{ifc, "2:1", "4:2", 8, 48},
		{stmt, "3:2", "3:26", 22, 46},
		{pl.Cmds[1], "3:15", "3:24", 35, 44},
		{pl.Cmds[1].(*CallExpr).Redirs[0], "3:18", "3:24", 38, 44},
		{ifc.Cond[0].Cmd.(*CallExpr).Args[1], "2:6", "2:8", 13, 15},
	} {
		if tt.n.Pos().String() != tt.pos || tt.n.End().String() != tt.end ||
			tt.n.Pos().Offset != tt.start || tt.n.End().Offset != tt.fin {
			t.Errorf("%s: Pos, End = %s (%d), %s (%d); want %s (%d), %s (%d)", String(tt.n),
				tt.n.Pos(), tt.n.Pos().Offset, tt.n.End(), tt.n.End().Offset, tt.pos, tt.start, tt.end, tt.fin)
		}
		if got := src[tt.n.Pos().Offset:tt.n.End().Offset]; strings.TrimSpace(got) != got {
			t.Errorf("%s spans %q, with blanks at an end", String(tt.n), got)
		}
	}
}

func TestLex(t *testing.T) {
	for _, tt := range []struct{ src, want string }{
		{"echo a|b", "Lit(echo) Lit(a) Pipe(|) Lit(b) EOF"},
		{"a >[2=1] |[2] b", "Lit(a) Redir(>[2=1]) Pipe(|[2]) Lit(b) EOF"},
		{"x=(a 'b c')", "Lit(x=) LParen Lit(a) Quoted(b c) RParen EOF"},
		{"$x$#y$\"z `{a}", "Var(x) Count(y) Join(z) Backquote LBrace Lit(a) RBrace EOF"},
		{"a&&b||c&d;e^f\n", "Lit(a) AndAnd Lit(b) OrOr Lit(c) Amp Lit(d) Semi Lit(e) Caret Lit(f) Newline EOF"},
		{"a # c\nb", "Lit(a) Comment( c) Newline Lit(b) EOF"},
		{"'unterminated", "Error(unterminated quote)"},
	} {
		l := newLexer(tt.src)
		var got []string
		for {
			it := l.nextItem()
			name := map[itemType]string{itemError: "Error", itemEOF: "EOF", itemNewline: "Newline",
				itemSemi: "Semi", itemAmp: "Amp", itemAndAnd: "AndAnd", itemOrOr: "OrOr", itemPipe: "Pipe",
				itemRedir: "Redir", itemLBrace: "LBrace", itemRBrace: "RBrace", itemLParen: "LParen",
				itemRParen: "RParen", itemCaret: "Caret", itemBackquote: "Backquote", itemLit: "Lit",
				itemQuoted: "Quoted", itemVar: "Var", itemCount: "Count", itemJoin: "Join", itemComment: "Comment"}[it.typ]
			switch it.typ {
			case itemLit, itemQuoted, itemVar, itemCount, itemJoin, itemComment, itemRedir, itemPipe, itemError:
				name += "(" + it.text + ")"
			}
			got = append(got, name)
			if it.typ == itemEOF || it.typ == itemError {
				break
			}
		}
		if s := strings.Join(got, " "); s != tt.want {
			t.Errorf("lex(%q) = %s; want %s", tt.src, s, tt.want)
		}
	}
}

// printEdge are scripts whose printing needs care; TestPrintStable and
// FuzzParse run them.
var printEdge = []string{
	"<0 !", "<x if not", "<x if (a)", "i^f(a)", "w^hile(x) y", "<f case", "<f .", "<f fn x",
	"\\", "echo \\", "echo a\\", "x=(a)^b", "echo $x^(1)", "echo ''^''",
}
