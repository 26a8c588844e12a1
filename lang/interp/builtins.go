package interp

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"loom/lang"
	"loom/ns"
)

// A builtin is a command the shell runs itself.
type builtin struct {
	synopsis string
	doc      string // one or two lines
	example  string
	run      func(r *Runner, ctx context.Context, sio IO, args []string) error
}

// builtins are the shell's own commands. The language's keywords (if,
// for, system, clone, ...) have help entries in syntaxHelp.
var builtins map[string]*builtin

func init() {
	builtins = map[string]*builtin{
		"cd": {"cd [dir]", "Change the current directory (to $home, which is /, with no argument).",
			"cd /tmp", bCd},
		"pwd": {"pwd", "Print the current directory.", "pwd", bPwd},
		"ls": {"ls [-dlp] [name ...]", "List directories and files in the namespace. -l gives Plan 9's long form\n" +
			"(mode, server type, server number, owner, group, length, time, name), -d lists a\n" +
			"directory itself, -p prints only the last element of each name.",
			"ls -l /tmp", bLs},
		"cat": {"cat [file ...]", "Copy files, or standard input with none, to standard output.",
			"cat /tmp/greeting", bCat},
		"echo": {"echo [-n] [word ...]", "Print the words, separated by blanks; -n leaves out the newline.",
			"echo hello > /tmp/greeting", bEcho},
		"read": {"read [name]", "Read one line of standard input: into the variable name (one element, no\n" +
			"newline), or, with no name, copy it to standard output as read(1) does. At end of\n" +
			"input $status is eof.",
			"read line < /tmp/greeting", bRead},
		"bind": {"bind [-abcC] new old", "Make old an alias for new, as bind(1): -b puts new before old in a\n" +
			"union, -a after it, -c allows creating in new.",
			"bind -a /tmp/bin /bin", bBind},
		"mount": {"mount [-abcC] kind old [args]", "Mount a file server on old: a new one of a kind (ramfs, dev, proc, ...;\n" +
			"help lists them, help KIND says more), one posted in /srv (mount /srv/NAME old),\n" +
			"or the 9P server at an address (unix!/path, tcp!host!port; args[0] names the\n" +
			"tree to attach to). Flags as bind's.",
			"mount -c ramfs /n/scratch", bMount},
		"post": {"post name [path]", "Post this namespace, or its subtree path, in /srv as name, so that\n" +
			"mount /srv/name mounts it.",
			"post web /lib/web", bPost},
		"unmount": {"unmount [new] old", "Undo binds and mounts on old: all of them, or only new's.",
			"unmount /tmp/bin /bin", bUnmount},
		"ns": {"ns", "Print the namespace as namespace(6) text: the binds and mounts that rebuild it.",
			"ns", bNs},
		"mkdir": {"mkdir [-p] dir ...", "Make directories; -p makes missing parents too and accepts existing ones.",
			"mkdir -p /tmp/a/b", bMkdir},
		"rm": {"rm [-fr] name ...", "Remove files and empty directories; -r removes directories with what\n" +
			"they hold, -f says nothing of names that do not exist.",
			"rm -r /tmp/a", bRm},
		"help": {"help [name]", "List the builtins, or describe one, a keyword of the language or a kind\nof file server.",
			"help bind", bHelp},
		"exit": {"exit [status]", "Leave the shell or script, with status (empty: success).",
			"exit 'not ready'", bExit},
		"return": {"return [status]", "Leave the function being run, with status.",
			"fn f { return failed }", bReturn},
		"shift": {"shift [n]", "Drop the first n (1) elements of $*.", "shift 2", bShift},
		"eval": {"eval [word ...]", "Join the words with blanks and run them as commands.",
			"eval echo '$x'", bEval},
		"wait": {"wait [apid]", "Wait for the background job apid, or for all of them.",
			"cat /tmp/a > /tmp/b &; wait $apid", bWait},
		"~": {"~ subject pattern ...", "Succeed if the subject matches one of the patterns (*, ?, [...]),\n" +
			"as rc's ~; $status says so.",
			"if(~ $x *.loom) echo script", nil},
		"builtin": {"builtin name [args ...]", "Run the builtin name even if a function has its name.",
			"fn cd { builtin cd $* && pwd }", bBuiltin},
		"use": {"use system", "Move the shell into a system's namespace; the prompt shows its name.",
			"use web2", bUse},
		"systems": {"systems", "List the systems.", "systems", bSystems},
		"stop": {"stop system", "Stop a system: its host processes are killed and its components closed.",
			"stop web2", bSystemCmd},
		"sandboxes": {"sandboxes", "List the sandboxes as their rules say them.",
			"sandboxes", bSystemCmd},
		"start": {"start [-n name] program [args ...]", "Start a host program in the current system and print its number: its\n" +
			"files are /proc/N (stdout, stderr, stdin, wait, ctl, ...). -n names it for ps and kill.",
			"start -n httpd busybox httpd -f -p 8080", bSystemCmd},
		"ps": {"ps [-a]", "List the processes of the current system, as Plan 9's ps: user, number, times,\n" +
			"memory, state, name (-a: the command line).", "ps -a", bSystemCmd},
		"kill": {"kill number|name ...", "Kill processes of the current system, by number or by name.", "kill httpd", bSystemCmd},
		"snapshot": {"snapshot [system] [as snap]", "Record a system at one moment: its ramfs trees (copy-on-write, so cheap\n" +
			"whatever their size), its namespace, environment, log, srv addresses, sandbox\n" +
			"and the definitions of its host processes. The processes' memory is not kept:\n" +
			"rollback and load start them again from their command lines. Snapshots are\n" +
			"listed, read and removed in /systems/NAME/snapshots. The system is the\n" +
			"current one unless named; it prints system@snap.",
			"snapshot web as before", bSystemCmd},
		"rollback": {"rollback [system] to snap", "Return a system to a snapshot: its trees, namespace, environment and srv\n" +
			"entries; its host processes are killed and started again from their\n" +
			"definitions. The log is kept (it records the rollback), and so is the sandbox.",
			"rollback web to before", bSystemCmd},
		"pause": {"pause [system]", "Freeze a system's host processes (cgroup freezer, or SIGSTOP) and hold\n" +
			"requests to its components, not failing them, until resume.",
			"pause web", bSystemCmd},
		"resume": {"resume [system]", "Undo pause: held requests go on and the processes run again.",
			"resume web", bSystemCmd},
		"save": {"save [system[@snap]] file", "Write a system, or one of its snapshots, to a host file: versioned and\n" +
			"checksummed, written whole or not at all (temporary file, fsync, rename).\n" +
			"Servers posted from this loom (not addresses) are not saved.",
			"save web@before /tmp/web.loomimg", bSystemCmd},
		"load": {"load [-n] file [as new]", "Make a system from an image save wrote, on this server or another; a\n" +
			"corrupt, truncated or newer image is refused and nothing of it is made.\n" +
			"file is a host file, or with -n a file of the current system's namespace:\n" +
			"/systems/NAME/image of a loom server imported there is a live image of\n" +
			"NAME, so that load -n clones a system from one server onto another.",
			"import tls!a.example!5640 /n/a; load -n /n/a/systems/web/image as web2", bSystemCmd},
		"export": {"export system addr", "Serve a system's namespace over 9P on an address of its own (unix!/path,\n" +
			"tcp!host!port on loopback, tls!host!port anywhere, clients proving the\n" +
			"server's keys), until the system stops or unexport; it prints the address,\n" +
			"with the port chosen for a port 0.",
			"export web tls!10.0.0.1!5641", bSystemCmd},
		"unexport": {"unexport system [addr]", "Stop serving a system on addr, or on every address export gave it.",
			"unexport web tls!10.0.0.1!5641", bSystemCmd},
		"import": {"import [-a|-b] [-c] [-L] [-t dur] addr dir [remote-path]", "Mount a remote 9P server (loom or not, either dialect) on dir, its tree\n" +
			"below remote-path if given; a connection that breaks is dialled again on\n" +
			"the next use. -a and -b make a union as bind's, -c allows creating, -L\n" +
			"speaks 9P2000.L, -t bounds how long a request waits for the remote (30s).",
			"import -c -t 2s tls!10.0.0.2!5640 /n/remote", bSystemCmd},
	}
}

// syntaxHelp describes the language's own forms for help.
var syntaxHelp = map[string][3]string{
	"system": {"system name { commands }", "Make a system, with components of its own: the commands run in its fresh\n" +
		"namespace and build it. A system made already is entered again.",
		"system web { mount ramfs /tmp }"},
	"sandbox": {"sandbox name { rules }", "Define a sandbox policy: allow paths, readonly paths, devices names,\n" +
		"network none|loopback|host, limit memory 64M processes 32 cpu 50% write 1G\n" +
		"(cpu: a share of the processor, 100% being everyone's; write: bytes written\n" +
		"through the namespace). What it does not say it does not restrict; nested,\n" +
		"sandboxes only narrow. Host processes of a sandboxed system run in kernel\n" +
		"namespaces of its own, made once, with its namespace as their file system.",
		"sandbox offline { allow /tmp; network none }"},
	"clone": {"clone system as new [in sandbox]", "Duplicate a system in one step, inside a sandbox: its components with their\n" +
		"state (ramfs trees copy-on-write, env, log, srv entries; a hostfs is the same\n" +
		"host directory, a pipe a new one), its namespace, and its host processes,\n" +
		"started again. If any part fails, nothing of new remains.",
		"clone web as web2 in offline"},
	"fn":     {"fn name { commands }", "Define a function; $* holds its arguments. fn name alone deletes it.", "fn greet { echo hello $1 }"},
	"if":     {"if(commands) command; if not command", "Run command if the condition's $status is empty; if not runs otherwise.", "if(~ $#* 0) echo no arguments"},
	"for":    {"for(name in words) command", "Run command once for each word, with $name set to it; for(name) loops over $*.", "for(f in /tmp/*) echo $f"},
	"while":  {"while(commands) command", "Run command while the condition succeeds.", "while(! ~ $x done) x=done"},
	"switch": {"switch(word) { case patterns; commands ... }", "Run the commands of the first case whose pattern matches.", "switch($1) { case -v; echo verbose }"},
	".":      {". file [args]", "Run the commands of a file of the namespace in this shell.", ". /lib/profile"},
}

// BuiltinNames returns the names of the builtins and keywords, sorted,
// for completion.
func BuiltinNames() []string {
	names := sortedKeys(builtins)
	names = append(names, sortedKeys(syntaxHelp)...)
	slices.Sort(names)
	return slices.Compact(names)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// usageErr is a builtin's complaint about its arguments.
func usageErr(name string) error {
	if b, ok := builtins[name]; ok {
		return fmt.Errorf("usage: %s", b.synopsis)
	}
	return errors.New("usage")
}

// flags splits leading -xyz arguments off args, checking each letter
// against allowed.
func flags(args []string, allowed string) (map[rune]bool, []string, error) {
	set := map[rune]bool{}
	i := 1
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		for _, c := range a[1:] {
			if !strings.ContainsRune(allowed, c) {
				return nil, nil, fmt.Errorf("bad flag -%c; %w", c, usageErr(args[0]))
			}
			set[c] = true
		}
	}
	return set, args[i:], nil
}

func bCd(r *Runner, ctx context.Context, sio IO, args []string) error {
	var dir string
	switch len(args) {
	case 1:
		dir = "/"
		if h := r.Get("home"); len(h) == 1 {
			dir = h[0]
		}
	case 2:
		dir = args[1]
	default:
		return usageErr("cd")
	}
	d, err := r.stat(ctx, dir)
	if err != nil {
		return pathErr(dir, err)
	}
	if !d.Mode.IsDir() {
		return pathErr(dir, ns.ErrNotDir)
	}
	r.dir = r.abs(dir)
	return nil
}

func bPwd(r *Runner, ctx context.Context, sio IO, args []string) error {
	_, err := fmt.Fprintln(sio.Stdout, r.dir)
	return err
}

func bEcho(r *Runner, ctx context.Context, sio IO, args []string) error {
	args = args[1:]
	nl := "\n"
	if len(args) > 0 && args[0] == "-n" {
		nl, args = "", args[1:]
	}
	_, err := sio.Stdout.Write([]byte(strings.Join(args, " ") + nl))
	return err
}

func bCat(r *Runner, ctx context.Context, sio IO, args []string) error {
	if len(args) == 1 {
		_, err := copyCtx(ctx, sio.Stdout, sio.Stdin)
		return err
	}
	var failed error
	for _, p := range args[1:] {
		f, err := r.open(ctx, p, ns.OREAD)
		if err != nil {
			failed = err
			fmt.Fprintf(sio.Stderr, "cat: %v\n", err)
			continue
		}
		_, err = copyCtx(ctx, sio.Stdout, &fileReader{ctx: ctx, f: f})
		f.Clunk()
		if err != nil {
			return err
		}
	}
	if failed != nil {
		return ExitStatus("cat: " + failed.Error())
	}
	return nil
}

// copyCtx copies until EOF or until ctx is cancelled.
func copyCtx(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, 32<<10)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func bRead(r *Runner, ctx context.Context, sio IO, args []string) error {
	if len(args) > 2 {
		return usageErr("read")
	}
	var line []byte
	b := make([]byte, 1)
	for {
		// One byte at a time, so that the rest of the input is left
		// for the next reader, as rc's read does.
		n, err := sio.Stdin.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			line = append(line, b[0])
		}
		if err == io.EOF {
			if len(line) == 0 {
				if len(args) == 2 {
					r.set(args[1], nil)
				}
				return ExitStatus("eof")
			}
			break
		}
		if err != nil {
			return err
		}
	}
	if len(args) == 2 {
		r.set(args[1], []string{string(line)})
		return nil
	}
	_, err := sio.Stdout.Write(append(line, '\n'))
	return err
}

func bLs(r *Runner, ctx context.Context, sio IO, args []string) error {
	fl, names, err := flags(args, "dlp")
	if err != nil {
		return err
	}
	if len(names) == 0 {
		names = []string{"."}
	}
	type entry struct {
		name string
		d    ns.Dir
	}
	var list []entry
	var failed error
	for _, p := range names {
		d, err := r.stat(ctx, p)
		if err != nil {
			failed = pathErr(p, err)
			fmt.Fprintf(sio.Stderr, "ls: %v\n", failed)
			continue
		}
		if !d.Mode.IsDir() || fl['d'] {
			list = append(list, entry{p, d})
			continue
		}
		ds, err := r.readDir(ctx, p)
		if err != nil {
			failed = err
			fmt.Fprintf(sio.Stderr, "ls: %v\n", err)
			continue
		}
		for _, d := range ds {
			name := d.Name
			if p != "." {
				name = path.Join(p, d.Name)
			}
			list = append(list, entry{name, d})
		}
	}
	slices.SortStableFunc(list, func(a, b entry) int { return cmp.Compare(a.name, b.name) })
	if fl['p'] {
		for i := range list {
			list[i].name = path.Base(list[i].name)
		}
	}
	if !fl['l'] {
		for _, e := range list {
			if _, err := fmt.Fprintln(sio.Stdout, e.name); err != nil {
				return err
			}
		}
	} else {
		var dw, uw, gw, lw int
		for _, e := range list {
			dw = max(dw, len(strconv.FormatUint(uint64(e.d.Dev), 10)))
			uw, gw = max(uw, len(e.d.Uid)), max(gw, len(e.d.Gid))
			lw = max(lw, len(strconv.FormatUint(e.d.Length, 10)))
		}
		var b bytes.Buffer
		for _, e := range list {
			fmt.Fprintf(&b, "%s %c %*d %-*s %-*s %*d %s %s\n", e.d.Mode, devChar(e.d.Type),
				dw, e.d.Dev, uw, e.d.Uid, gw, e.d.Gid, lw, e.d.Length, lsTime(e.d.Mtime), e.name)
		}
		if _, err := sio.Stdout.Write(b.Bytes()); err != nil {
			return err
		}
	}
	if failed != nil {
		return ExitStatus("ls: " + failed.Error())
	}
	return nil
}

// devChar is the character ls -l shows for a server type: Plan 9 shows
// the kernel device's letter; loom's servers are all reached as mounts,
// which Plan 9 shows as M.
func devChar(t uint16) rune {
	if t == 0 || t > 0x7e || t < 0x21 {
		return 'M'
	}
	return rune(t)
}

// lsTime prints a time as Plan 9's ls does: with the hour for the last
// six months, with the year before that.
func lsTime(sec uint32) string {
	t := time.Unix(int64(sec), 0)
	if time.Since(t) < 180*24*time.Hour {
		return t.Format("Jan _2 15:04")
	}
	return t.Format("Jan _2  2006")
}

func parseBindFlags(args []string) (ns.Flag, []string, error) {
	fl, rest, err := flags(args, "abcC")
	if err != nil {
		return 0, nil, err
	}
	var f ns.Flag
	switch {
	case fl['a'] && fl['b']:
		return 0, nil, fmt.Errorf("-a and -b together; %w", usageErr(args[0]))
	case fl['a']:
		f = ns.MAFTER
	case fl['b']:
		f = ns.MBEFORE
	}
	if fl['c'] {
		f |= ns.MCREATE
	}
	if fl['C'] {
		f |= ns.MCACHE
	}
	return f, rest, nil
}

func bBind(r *Runner, ctx context.Context, sio IO, args []string) error {
	f, rest, err := parseBindFlags(args)
	if err != nil {
		return err
	}
	if len(rest) != 2 {
		return usageErr("bind")
	}
	if err := r.ns.Bind(r.abs(rest[0]), r.abs(rest[1]), f); err != nil {
		return nsErr(err, rest[0], rest[1])
	}
	return nil
}

// nsErr names, in an error of Bind, Mount or Unmount, the path the user
// wrote rather than the absolute one.
func nsErr(err error, names ...string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		for _, n := range names {
			if path.Clean(pe.Path) == path.Clean("/"+n) || strings.HasSuffix(pe.Path, n) {
				return fmt.Errorf("%s: %w", n, pe.Err)
			}
		}
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

func bMount(r *Runner, ctx context.Context, sio IO, args []string) error {
	f, rest, err := parseBindFlags(args)
	if err != nil {
		return err
	}
	if len(rest) < 2 {
		return usageErr("mount")
	}
	src := rest[0]
	if strings.HasPrefix(src, "/") || strings.HasPrefix(src, ".") {
		// A file of the namespace that names a server: /srv/NAME.
		src = r.abs(src)
	}
	if err := r.ns.Mount(ctx, src, r.abs(rest[1]), f, rest[2:]); err != nil {
		return nsErr(err, rest[1])
	}
	return nil
}

// bPost posts the namespace, or a subtree of it, through the components
// layer, which alone knows the system's srv.
func bPost(r *Runner, ctx context.Context, sio IO, args []string) error {
	if len(args) < 2 || len(args) > 3 {
		return usageErr("post")
	}
	p := "/"
	if len(args) == 3 {
		p = r.abs(args[2])
	}
	if err := r.systems.Command(ctx, sio, r.system, []string{"post", args[1], p}); err != nil {
		return unprefixed{err}
	}
	return nil
}

func bUnmount(r *Runner, ctx context.Context, sio IO, args []string) error {
	var err error
	switch len(args) {
	case 2:
		err = r.ns.Unmount("", r.abs(args[1]))
	case 3:
		err = r.ns.Unmount(r.abs(args[1]), r.abs(args[2]))
	default:
		return usageErr("unmount")
	}
	if err != nil {
		return nsErr(err, args[1:]...)
	}
	return nil
}

func bNs(r *Runner, ctx context.Context, sio IO, args []string) error {
	if len(args) != 1 {
		return usageErr("ns")
	}
	t, err := r.ns.Text()
	if err != nil {
		return err
	}
	_, err = sio.Stdout.Write(t)
	return err
}

func bMkdir(r *Runner, ctx context.Context, sio IO, args []string) error {
	fl, names, err := flags(args, "p")
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return usageErr("mkdir")
	}
	for _, p := range names {
		if fl['p'] {
			if err := r.mkdirAll(ctx, p); err != nil {
				return err
			}
			continue
		}
		f, err := r.create(ctx, p, ns.DMDIR|0o777, ns.OREAD)
		if err != nil {
			return err
		}
		f.Clunk()
	}
	return nil
}

func (r *Runner) mkdirAll(ctx context.Context, p string) error {
	abs := r.abs(p)
	cur := "/"
	for _, e := range ns.SplitPath(abs) {
		cur = path.Join(cur, e)
		d, err := r.stat(ctx, cur)
		if err == nil {
			if !d.Mode.IsDir() {
				return pathErr(cur, ns.ErrNotDir)
			}
			continue
		}
		f, err := r.create(ctx, cur, ns.DMDIR|0o777, ns.OREAD)
		if err != nil {
			return err
		}
		f.Clunk()
	}
	return nil
}

func bRm(r *Runner, ctx context.Context, sio IO, args []string) error {
	fl, names, err := flags(args, "fr")
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return usageErr("rm")
	}
	var failed error
	for _, p := range names {
		err := r.remove(ctx, p, fl['r'], 0)
		if err != nil && !(fl['f'] && errors.Is(err, fs.ErrNotExist)) {
			failed = err
			fmt.Fprintf(sio.Stderr, "rm: %v\n", err)
		}
	}
	if failed != nil {
		return ExitStatus("rm: " + failed.Error())
	}
	return nil
}

func (r *Runner) remove(ctx context.Context, p string, all bool, depth int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if all && depth < 64 {
		if d, err := r.stat(ctx, p); err == nil && d.Mode.IsDir() {
			kids, err := r.readDir(ctx, p)
			if err != nil {
				return err
			}
			for _, k := range kids {
				if err := r.remove(ctx, path.Join(r.abs(p), k.Name), true, depth+1); err != nil {
					return err
				}
			}
		}
	}
	f, err := r.ns.Walk(ctx, r.abs(p))
	if err != nil {
		return pathErr(p, err)
	}
	defer f.Clunk()
	rm, ok := f.(ns.Remover)
	if !ok {
		return pathErr(p, ns.ErrPerm)
	}
	if err := rm.Remove(ctx); err != nil {
		return pathErr(p, err)
	}
	return nil
}

func bHelp(r *Runner, ctx context.Context, sio IO, args []string) error {
	w := sio.Stdout
	switch len(args) {
	case 1:
		// A synopsis too long for the column (import's) has its line
		// to itself, its doc on the next, so as not to push the
		// others' docs off the screen.
		const widest = 36
		col := 0
		for _, b := range builtins {
			if n := len(b.synopsis); n <= widest {
				col = max(col, n)
			}
		}
		fmt.Fprintln(w, "builtins:")
		for _, n := range sortedKeys(builtins) {
			b := builtins[n]
			syn := b.synopsis
			if len(syn) > col {
				fmt.Fprintf(w, "  %s\n", syn)
				syn = ""
			}
			fmt.Fprintf(w, "  %-*s  %s\n", col, syn, firstLine(b.doc))
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "language:")
		for _, n := range sortedKeys(syntaxHelp) {
			h := syntaxHelp[n]
			fmt.Fprintf(tw, "  %s\t%s\n", h[0], firstLine(h[1]))
		}
		for _, g := range r.topics {
			fmt.Fprintf(tw, "%s:\n", g.heading)
			for _, tp := range g.topics {
				fmt.Fprintf(tw, "  %s\t%s\n", tp.Synopsis, firstLine(tp.Doc))
			}
		}
		fmt.Fprintln(tw, "help NAME says more.")
		return tw.Flush()
	case 2:
		syn, doc, ex := "", "", ""
		if b, ok := builtins[args[1]]; ok {
			syn, doc, ex = b.synopsis, b.doc, b.example
		} else if h, ok := syntaxHelp[args[1]]; ok {
			syn, doc, ex = h[0], h[1], h[2]
		} else if tp, ok := r.topic(args[1]); ok {
			_, err := fmt.Fprintf(w, "%s\n", strings.TrimSuffix(tp.Help, "\n"))
			return err
		} else {
			return fmt.Errorf("%s: no such builtin, keyword or topic", args[1])
		}
		_, err := fmt.Fprintf(w, "usage: %s\n%s\nexample: %s\n", syn, doc, ex)
		return err
	}
	return usageErr("help")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func bExit(r *Runner, ctx context.Context, sio IO, args []string) error {
	r.status = strings.Join(args[1:], " ")
	return &exitErr{}
}

func bReturn(r *Runner, ctx context.Context, sio IO, args []string) error {
	r.status = strings.Join(args[1:], " ")
	return errReturn
}

func bShift(r *Runner, ctx context.Context, sio IO, args []string) error {
	n := 1
	if len(args) == 2 {
		var err error
		if n, err = strconv.Atoi(args[1]); err != nil || n < 0 {
			return usageErr("shift")
		}
	} else if len(args) > 2 {
		return usageErr("shift")
	}
	all := r.Get("*")
	if n > len(all) {
		return errors.New("nothing to shift")
	}
	r.set("*", all[n:])
	return nil
}

func bEval(r *Runner, ctx context.Context, sio IO, args []string) error {
	f, err := lang.Parse([]byte(strings.Join(args[1:], " ")), "eval")
	if err != nil {
		return err
	}
	if err := r.stmts(ctx, f.Stmts, sio); err != nil {
		return err
	}
	if r.status != "" {
		return ExitStatus(r.status)
	}
	return nil
}

func bWait(r *Runner, ctx context.Context, sio IO, args []string) error {
	j := r.jobs
	var chans []chan struct{}
	j.mu.Lock()
	switch len(args) {
	case 1:
		for _, c := range j.wait {
			chans = append(chans, c)
		}
	case 2:
		id, _ := strconv.Atoi(args[1])
		c, ok := j.wait[id]
		if !ok {
			j.mu.Unlock()
			return fmt.Errorf("%s: no such job", args[1])
		}
		chans = append(chans, c)
	default:
		j.mu.Unlock()
		return usageErr("wait")
	}
	j.mu.Unlock()
	for _, c := range chans {
		select {
		case <-c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	j.mu.Lock()
	for id, c := range j.wait {
		select {
		case <-c:
			delete(j.wait, id)
		default:
		}
	}
	j.mu.Unlock()
	return nil
}

func bBuiltin(r *Runner, ctx context.Context, sio IO, args []string) error {
	if len(args) < 2 {
		return usageErr("builtin")
	}
	b, ok := builtins[args[1]]
	if !ok || b.run == nil {
		return fmt.Errorf("%s: not a builtin", args[1])
	}
	return b.run(r, ctx, sio, args[1:])
}

func bUse(r *Runner, ctx context.Context, sio IO, args []string) error {
	if len(args) != 2 {
		return usageErr("use")
	}
	n, err := r.systems.Use(ctx, args[1])
	if err != nil {
		return unprefixed{err}
	}
	r.ns, r.system, r.dir = n, args[1], "/"
	return nil
}

func bSystems(r *Runner, ctx context.Context, sio IO, args []string) error {
	names, err := r.systems.List(ctx)
	if err != nil {
		return unprefixed{err}
	}
	for _, n := range names {
		if _, err := fmt.Fprintln(sio.Stdout, n); err != nil {
			return err
		}
	}
	return nil
}

func bSystemCmd(r *Runner, ctx context.Context, sio IO, args []string) error {
	if err := r.systems.Command(ctx, sio, r.system, args); err != nil {
		return unprefixed{err}
	}
	return nil
}

// unprefixed is an error that already says which command failed.
type unprefixed struct{ error }

func (u unprefixed) Unwrap() error { return u.error }
