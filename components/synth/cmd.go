package synth

import (
	"errors"
	"io/fs"
	"strings"
)

// Command is one entry of a ctl file's command table. With MinArgs and
// MaxArgs both 0 the command takes exactly Args arguments; otherwise it
// takes from MinArgs to MaxArgs, and a negative MaxArgs sets no upper
// bound. Run, when set, carries the command out; it must change nothing
// when it fails.
type Command struct {
	Name             string
	Args             int
	MinArgs, MaxArgs int
	Run              func(args []string) error
}

// takes reports whether c takes n arguments.
func (c *Command) takes(n int) bool {
	if c.MinArgs == 0 && c.MaxArgs == 0 {
		return n == c.Args
	}
	return n >= c.MinArgs && (c.MaxArgs < 0 || n <= c.MaxArgs)
}

// Commands is a ctl file's command table.
type Commands []Command

// The errors of a command line that does not fit the table. They are
// Plan 9's, and a CmdError adds the command to them.
var (
	ErrBadArgs = errors.New("bad # args to command")
	ErrUnknown = errors.New("unknown control message")
	ErrQuote   = errors.New("unmatched quote in command")
)

// CmdError is the error of one command line: Err is ErrBadArgs,
// ErrUnknown or ErrQuote for a line that does not fit the table, or what
// the command's Run returned. Its text names the command and what was
// wrong, as Plan 9's ctl files do: `bad # args to command "kill 3"`,
// `limit: bad number "x"`.
type CmdError struct {
	Cmd  string   // the command's name, or the whole line for ErrQuote
	Args []string // the line's words after the name
	Err  error
}

func (e *CmdError) Error() string {
	switch e.Err {
	case ErrQuote:
		return e.Err.Error() + " \"" + e.Cmd + "\""
	case ErrBadArgs, ErrUnknown:
		return e.Err.Error() + " \"" + quoteLine(e.Cmd, e.Args) + "\""
	}
	return e.Cmd + ": " + e.Err.Error()
}

func (e *CmdError) Unwrap() error { return e.Err }

// Is makes a line that does not fit the table an invalid argument, so
// that it becomes EINVAL for a Linux client.
func (e *CmdError) Is(target error) bool {
	return target == fs.ErrInvalid && (e.Err == ErrBadArgs || e.Err == ErrUnknown || e.Err == ErrQuote)
}

// quoteLine prints a command line back, quoted as Tokenize reads it.
func quoteLine(name string, args []string) string {
	w := []string{Quote(name)}
	for _, a := range args {
		w = append(w, Quote(a))
	}
	return strings.Join(w, " ")
}

// Call is one parsed command line.
type Call struct {
	Cmd  *Command
	Args []string
}

// Parse parses text, one command per line (blank lines are ignored), and
// checks every line against the table, returning the calls in order or
// the error of the first line that does not fit.
func (cs Commands) Parse(text string) ([]Call, error) {
	var calls []Call
	for line := range strings.SplitSeq(text, "\n") {
		words, err := Tokenize(line)
		if err != nil {
			return nil, &CmdError{Cmd: strings.TrimSpace(line), Err: ErrQuote}
		}
		if len(words) == 0 {
			continue
		}
		c := cs.lookup(words[0])
		if c == nil {
			return nil, &CmdError{Cmd: words[0], Args: words[1:], Err: ErrUnknown}
		}
		if !c.takes(len(words) - 1) {
			return nil, &CmdError{Cmd: words[0], Args: words[1:], Err: ErrBadArgs}
		}
		calls = append(calls, Call{c, words[1:]})
	}
	return calls, nil
}

func (cs Commands) lookup(name string) *Command {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

// Run parses text as Parse does and, when every line fits the table, runs
// the lines' commands in order, stopping at the first that fails. So a
// text with a line that does not fit runs nothing; a command that fails
// (and so changes nothing itself) leaves the lines before it done and
// those after it not run.
func (cs Commands) Run(text string) error {
	calls, err := cs.Parse(text)
	if err != nil {
		return err
	}
	for _, c := range calls {
		if c.Cmd.Run == nil {
			continue
		}
		if err := c.Cmd.Run(c.Args); err != nil {
			return &CmdError{Cmd: c.Cmd.Name, Args: c.Args, Err: err}
		}
	}
	return nil
}

// Tokenize splits a line into words as rc does, simply: words are
// separated by blanks (spaces, tabs, carriage returns and newlines); a
// part of a word in single quotes keeps its blanks, and within it two
// single quotes stand for one. An unmatched quote is an error.
func Tokenize(line string) ([]string, error) {
	var (
		words []string
		w     strings.Builder
		inW   bool
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			if inW {
				words = append(words, w.String())
				w.Reset()
				inW = false
			}
		case c == '\'':
			inW = true
			for i++; ; i++ {
				if i >= len(line) {
					return nil, ErrQuote
				}
				if line[i] == '\'' {
					if i+1 < len(line) && line[i+1] == '\'' {
						w.WriteByte('\'')
						i++
						continue
					}
					break
				}
				w.WriteByte(line[i])
			}
		default:
			inW = true
			w.WriteByte(c)
		}
	}
	if inW {
		words = append(words, w.String())
	}
	return words, nil
}

// Quote quotes s as Tokenize reads it back: as it is when it has no
// blanks or quotes and is not empty, else in single quotes.
func Quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\r\n'") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
