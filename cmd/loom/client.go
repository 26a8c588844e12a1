package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os/user"
	"path"
	"strings"
	"text/tabwriter"
	"time"

	"loom/9p"
	"loom/ns"
)

const usage9p = `usage: loom 9p [-a addr] [-L] [-u user] [-A aname] command path

commands:
  ls [-l] path    list a directory (or name a file)
  read path       copy a file to standard output
  write path      copy standard input to a file, creating it if need be
  stat path       print a file's metadata in stat(5) form
  mkdir path      make a directory
  rm path         remove a file or an empty directory
`

// cmd9p is loom's own small 9P client, after plan9port's 9p(1): it reaches
// any 9P server, loom or not, in either dialect.
func cmd9p(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("9p", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, usage9p) }
	addr := fl.String("a", defaultAddr(), "server `address`")
	dotL := fl.Bool("L", false, "speak 9P2000.L rather than 9P2000")
	uname := fl.String("u", currentUser(), "attach as `user`")
	aname := fl.String("A", "", "attach to the tree `aname`")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() < 2 {
		fl.Usage()
		return errors.New("9p: need a command and a path")
	}
	verb, rest := fl.Arg(0), fl.Args()[1:]
	long := false
	if verb == "ls" && rest[0] == "-l" {
		long, rest = true, rest[1:]
	}
	if len(rest) != 1 {
		fl.Usage()
		return fmt.Errorf("9p %s: need one path", verb)
	}
	p := rest[0]

	dialect := "9P2000"
	if *dotL {
		dialect = "9P2000.L"
	}
	c, err := ninep.Dial(*addr, ninep.Dialect(dialect), ninep.DialTimeout(10*time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	root, err := c.Attach(ctx, *uname, *aname)
	if err != nil {
		return fmt.Errorf("attach %s: %w", *addr, err)
	}
	defer root.Clunk()

	switch verb {
	case "ls":
		err = ls(ctx, root, p, long, stdout)
	case "read":
		err = withFile(ctx, root, p, ns.OREAD, func(f ns.File) error {
			_, err := io.Copy(stdout, fileReader(ctx, f))
			return err
		})
	case "write":
		err = write(ctx, root, p, stdin)
	case "stat":
		err = withFile(ctx, root, p, 0xff, func(f ns.File) error {
			d, err := f.Stat(ctx)
			if err == nil {
				fmt.Fprintln(stdout, d)
			}
			return err
		})
	case "mkdir":
		err = create(ctx, root, p, ns.DMDIR|0o777, ns.OREAD, nil)
	case "rm":
		err = withFile(ctx, root, p, 0xff, func(f ns.File) error {
			r, ok := f.(ns.Remover)
			if !ok {
				return ns.ErrPerm
			}
			return r.Remove(ctx)
		})
	default:
		fl.Usage()
		return fmt.Errorf("9p: unknown command %q", verb)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, p, err)
	}
	return nil
}

// defaultAddr is the address loom serve listens on by default.
func defaultAddr() string { return strings.Split(defaultListen(), ",")[0] }

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "none"
}

// withFile walks to p and, unless mode is 0xff, opens it with mode, then
// calls fn and clunks the file.
func withFile(ctx context.Context, root ns.File, p string, mode uint8, fn func(ns.File) error) (err error) {
	f, err := ns.WalkPath(ctx, root, p)
	if err != nil {
		return err
	}
	defer func() {
		// A ctl file may have the last word at the clunk: a script
		// written to it unfinished, or its last line's error.
		if cerr := f.Clunk(); err == nil {
			err = cerr
		}
	}()
	if mode != 0xff {
		if _, err := f.Open(ctx, mode); err != nil {
			return err
		}
	}
	return fn(f)
}

func ls(ctx context.Context, root ns.File, p string, long bool, w io.Writer) error {
	return withFile(ctx, root, p, 0xff, func(f ns.File) error {
		d, err := f.Stat(ctx)
		if err != nil {
			return err
		}
		dirs := []ns.Dir{d}
		if d.Mode.IsDir() {
			if _, err := f.Open(ctx, ns.OREAD); err != nil {
				return err
			}
			dirs = nil
			for {
				ds, err := f.ReadDir(ctx, len(dirs), 256)
				if err != nil {
					return err
				}
				if len(ds) == 0 {
					break
				}
				dirs = append(dirs, ds...)
			}
		}
		tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		for _, d := range dirs {
			if !long {
				fmt.Fprintln(w, d.Name)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", d.Mode, d.Uid, d.Gid, d.Length,
				d.ModTime().Format("Jan _2 15:04"), d.Name)
		}
		return tw.Flush()
	})
}

func write(ctx context.Context, root ns.File, p string, r io.Reader) error {
	err := withFile(ctx, root, p, ns.OWRITE|ns.OTRUNC, func(f ns.File) error {
		return copyTo(ctx, f, r)
	})
	if errors.Is(err, fs.ErrNotExist) {
		return create(ctx, root, p, 0o666, ns.OWRITE, r)
	}
	return err
}

// create makes the file p and, if r is not nil, copies r into it.
func create(ctx context.Context, root ns.File, p string, perm ns.Perm, mode uint8, r io.Reader) error {
	dir, name := path.Split(path.Clean("/" + p))
	return withFile(ctx, root, dir, 0xff, func(d ns.File) error {
		c, ok := d.(ns.Creater)
		if !ok {
			return ns.ErrPerm
		}
		f, _, err := c.Create(ctx, name, perm, mode)
		if err != nil {
			return err
		}
		defer f.Clunk()
		if r == nil {
			return nil
		}
		return copyTo(ctx, f, r)
	})
}

func copyTo(ctx context.Context, f ns.File, r io.Reader) error {
	buf := make([]byte, 64<<10)
	var off int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := f.Write(ctx, buf[:n], off); err != nil {
				return err
			}
			off += int64(n)
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// fileReader reads an open File from the start.
func fileReader(ctx context.Context, f ns.File) io.Reader {
	return io.NewSectionReader(readerAt{ctx, f}, 0, 1<<62)
}

type readerAt struct {
	ctx context.Context
	f   ns.File
}

func (r readerAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.f.Read(r.ctx, p, off)
	if n == 0 && err == nil {
		return 0, io.EOF
	}
	return n, err
}
