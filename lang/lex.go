package lang

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// A Pos is a place in a script: a byte offset and, for people, a line and
// a column, both counting from 1 (the column counts bytes).
type Pos struct {
	Offset, Line, Col int
}

// IsValid reports whether p is a real position rather than the zero Pos.
func (p Pos) IsValid() bool { return p.Line > 0 }

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// itemType says what a lexed item is.
type itemType int

const (
	itemError     itemType = iota // text is the message
	itemEOF                       //
	itemNewline                   // \n
	itemSemi                      // ;
	itemAmp                       // &
	itemAndAnd                    // &&
	itemOrOr                      // ||
	itemPipe                      // | or |[fd]
	itemRedir                     // < > >> >[n] >[n=m]
	itemLBrace                    // {
	itemRBrace                    // }
	itemLParen                    // (
	itemRParen                    // )
	itemCaret                     // ^
	itemBackquote                 // ` (always followed by {)
	itemLit                       // an unquoted run of word characters
	itemQuoted                    // '...': text is the value, quotes removed
	itemVar                       // $name: text is the name
	itemCount                     // $#name
	itemJoin                      // $"name
	itemComment                   // # to the end of the line: text is after the #
)

var itemNames = map[itemType]string{
	itemEOF: "end of file", itemNewline: "newline", itemSemi: "';'",
	itemAmp: "'&'", itemAndAnd: "'&&'", itemOrOr: "'||'", itemPipe: "'|'",
	itemRedir: "redirection", itemLBrace: "'{'", itemRBrace: "'}'",
	itemLParen: "'('", itemRParen: "')'", itemCaret: "'^'",
	itemBackquote: "'`'", itemLit: "word", itemQuoted: "quoted word",
	itemVar: "variable", itemCount: "variable", itemJoin: "variable",
	itemComment: "comment",
}

// item is one token of a script.
type item struct {
	typ  itemType
	pos  Pos    // of its first byte
	end  Pos    // just past its last byte
	text string // see itemType
	// incomplete marks an error that more input would cure (an open quote).
	incomplete bool
}

func (i item) String() string {
	switch i.typ {
	case itemLit:
		return fmt.Sprintf("%q", i.text)
	case itemRedir, itemPipe:
		return fmt.Sprintf("'%s'", i.text)
	}
	return itemNames[i.typ]
}

// stateFn is a state of the lexer, returning the next.
type stateFn func(*lexer) stateFn

// lexer turns a script into items, one state function at a time; it runs
// synchronously, as the parser asks for items.
type lexer struct {
	src   string
	start Pos // start of the item being lexed
	pos   Pos // the next byte
	prev  Pos // pos before the last next, for backup
	state stateFn
	items []item // lexed but not yet taken; at most a few
}

const eof = -1

func newLexer(src string) *lexer {
	p := Pos{Offset: 0, Line: 1, Col: 1}
	return &lexer{src: src, start: p, pos: p, state: lexAny}
}

// nextItem returns the next item, running state functions until one is
// emitted. After itemEOF or itemError it keeps returning that item.
func (l *lexer) nextItem() item {
	for len(l.items) == 0 {
		if l.state == nil {
			return item{typ: itemEOF, pos: l.pos, end: l.pos}
		}
		l.state = l.state(l)
	}
	it := l.items[0]
	l.items = l.items[1:]
	return it
}

func (l *lexer) next() rune {
	l.prev = l.pos
	if l.pos.Offset >= len(l.src) {
		return eof
	}
	r, w := utf8.DecodeRuneInString(l.src[l.pos.Offset:])
	l.pos.Offset += w
	if r == '\n' {
		l.pos.Line++
		l.pos.Col = 1
	} else {
		l.pos.Col += w
	}
	return r
}

// backup steps back one rune; it is called at most once per next.
func (l *lexer) backup() { l.pos = l.prev }

func (l *lexer) peek() rune {
	r := l.next()
	l.backup()
	return r
}

func (l *lexer) emit(t itemType, text string) {
	l.items = append(l.items, item{typ: t, pos: l.start, end: l.pos, text: text})
	l.start = l.pos
}

func (l *lexer) ignore() { l.start = l.pos }

func (l *lexer) errorf(incomplete bool, format string, args ...any) stateFn {
	l.items = append(l.items, item{typ: itemError, pos: l.start, end: l.pos,
		text: fmt.Sprintf(format, args...), incomplete: incomplete})
	return nil
}

// special holds the characters that end an unquoted word.
const special = " \t\r\n#;&|^$`'{}()<>"

// isWordChar reports whether r may appear in an unquoted word.
func isWordChar(r rune) bool { return r != eof && !strings.ContainsRune(special, r) }

// isVarChar reports whether r may appear in a variable's name.
func isVarChar(r rune) bool {
	return r == '_' || r == '*' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
}

// lexAny is the state between items.
func lexAny(l *lexer) stateFn {
	switch r := l.next(); {
	case r == eof:
		l.emit(itemEOF, "")
		return nil
	case r == ' ' || r == '\t' || r == '\r':
		l.ignore()
	case r == '\\' && l.peek() == '\n':
		// A backslash-newline joins lines, as in rc.
		l.next()
		l.ignore()
	case r == '\n':
		l.emit(itemNewline, "\n")
	case r == '#':
		return lexComment
	case r == ';':
		l.emit(itemSemi, ";")
	case r == '&':
		if l.peek() == '&' {
			l.next()
			l.emit(itemAndAnd, "&&")
		} else {
			l.emit(itemAmp, "&")
		}
	case r == '|':
		if l.peek() == '|' {
			l.next()
			l.emit(itemOrOr, "||")
			break
		}
		return lexFds(l, itemPipe)
	case r == '<' || r == '>':
		if r == '>' && l.peek() == '>' {
			l.next()
		}
		return lexFds(l, itemRedir)
	case r == '{':
		l.emit(itemLBrace, "{")
	case r == '}':
		l.emit(itemRBrace, "}")
	case r == '(':
		l.emit(itemLParen, "(")
	case r == ')':
		l.emit(itemRParen, ")")
	case r == '^':
		l.emit(itemCaret, "^")
	case r == '`':
		if l.peek() != '{' {
			return l.errorf(false, "` must be followed by {")
		}
		l.emit(itemBackquote, "`")
	case r == '\'':
		return lexQuote
	case r == '$':
		return lexVar
	default:
		return lexLit
	}
	return lexAny
}

// lexComment lexes a comment; the # has been read.
func lexComment(l *lexer) stateFn {
	for r := l.peek(); r != '\n' && r != eof; r = l.peek() {
		l.next()
	}
	text := l.src[l.start.Offset+1 : l.pos.Offset]
	l.emit(itemComment, strings.TrimRight(text, " \t\r"))
	return lexAny
}

// lexFds lexes the optional [n] or [n=m] or [n=] after a redirection or
// a pipe; the operator has been read.
func lexFds(l *lexer, t itemType) stateFn {
	if l.peek() == '[' {
		l.next()
		for r := l.next(); r != ']'; r = l.next() {
			if r == eof || r == '\n' {
				return l.errorf(r == eof, "unterminated [ in %s", l.src[l.start.Offset:l.pos.Offset])
			}
			if !('0' <= r && r <= '9') && r != '=' {
				return l.errorf(false, "bad file descriptor in %s", l.src[l.start.Offset:l.pos.Offset])
			}
		}
	}
	l.emit(t, l.src[l.start.Offset:l.pos.Offset])
	return lexAny
}

// lexQuote lexes an rc-quoted word; the opening quote has been read. Two
// quotes inside stand for one.
func lexQuote(l *lexer) stateFn {
	var b strings.Builder
	for {
		switch r := l.next(); r {
		case eof:
			return l.errorf(true, "unterminated quote")
		case '\'':
			if l.peek() != '\'' {
				l.emit(itemQuoted, b.String())
				return lexAny
			}
			l.next()
			b.WriteByte('\'')
		default:
			b.WriteRune(r)
		}
	}
}

// lexVar lexes $name, $#name or $"name; the $ has been read.
func lexVar(l *lexer) stateFn {
	t := itemVar
	switch l.peek() {
	case '#':
		l.next()
		t = itemCount
	case '"':
		l.next()
		t = itemJoin
	}
	nameStart := l.pos.Offset
	for isVarChar(l.peek()) {
		l.next()
	}
	if l.pos.Offset == nameStart {
		return l.errorf(false, "$ without a variable name")
	}
	l.emit(t, l.src[nameStart:l.pos.Offset])
	return lexAny
}

// lexLit lexes an unquoted word; its first rune has been read.
func lexLit(l *lexer) stateFn {
	for isWordChar(l.peek()) && !strings.HasPrefix(l.src[l.pos.Offset:], "\\\n") {
		l.next()
	}
	l.emit(itemLit, l.src[l.start.Offset:l.pos.Offset])
	return lexAny
}
