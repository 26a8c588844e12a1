package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"loom/lang"
)

// cmdFmt is loom fmt [-w] [file ...]: it prints scripts in the canonical
// format, or with -w rewrites the files that are not in it. With no file
// it formats standard input.
func cmdFmt(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("fmt", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprintln(stderr, "usage: loom fmt [-w] [file ...]") }
	write := fl.Bool("w", false, "rewrite the files rather than print them")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() == 0 {
		if *write {
			return errors.New("fmt: -w needs files")
		}
		src, err := io.ReadAll(stdin)
		if err == nil {
			err = fmtOne("stdin", src, stdout)
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			return errSilent
		}
		return nil
	}
	var failed error
	for _, name := range fl.Args() {
		src, err := os.ReadFile(name)
		if err != nil {
			failed = err
			fmt.Fprintf(stderr, "loom: %v\n", err)
			continue
		}
		if !*write {
			if err := fmtOne(name, src, stdout); err != nil {
				failed = err
				fmt.Fprintln(stderr, err)
			}
			continue
		}
		var out bytes.Buffer
		if err := fmtOne(name, src, &out); err != nil {
			failed = err
			fmt.Fprintln(stderr, err)
			continue
		}
		if !bytes.Equal(out.Bytes(), src) {
			if err := os.WriteFile(name, out.Bytes(), 0o666); err != nil {
				failed = err
				fmt.Fprintf(stderr, "loom: %v\n", err)
			}
		}
	}
	if failed != nil {
		return errSilent
	}
	return nil
}

func fmtOne(name string, src []byte, w io.Writer) error {
	f, err := lang.Parse(src, name)
	if err != nil {
		return err
	}
	return lang.Fprint(w, f)
}
