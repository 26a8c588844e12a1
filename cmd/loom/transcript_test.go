package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden outputs (transcripts and examples)")

// A transcript is a whole shell session: loom's arguments, its standard
// input, and what it must print. The file holds a comment, then sections
// in txtar's form: "-- args --" (one argument a line; none means a script
// on standard input), "-- stdin --", "-- stdout --", "-- stderr --", and
// "-- exit --" (0 or 1).
type transcript struct {
	comment  string
	sections map[string]string
	order    []string
}

func parseTranscript(data string) *transcript {
	t := &transcript{sections: map[string]string{}}
	cur := ""
	var b strings.Builder
	flush := func() {
		if cur == "" {
			t.comment = b.String()
		} else {
			t.sections[cur] = b.String()
			t.order = append(t.order, cur)
		}
		b.Reset()
	}
	for _, line := range strings.SplitAfter(data, "\n") {
		if strings.HasPrefix(line, "-- ") && strings.HasSuffix(strings.TrimRight(line, "\n"), " --") {
			flush()
			cur = strings.TrimSuffix(strings.TrimPrefix(strings.TrimRight(line, "\n"), "-- "), " --")
			continue
		}
		b.WriteString(line)
	}
	flush()
	return t
}

func (t *transcript) format() string {
	var b strings.Builder
	b.WriteString(t.comment)
	for _, name := range t.order {
		b.WriteString("-- " + name + " --\n" + t.sections[name])
	}
	return b.String()
}

// times hides the times ls -l prints, which change from run to run.
var times = regexp.MustCompile(`[A-Z][a-z][a-z] [ 0-9]\d ( \d{4}|\d\d:\d\d)`)

// TestTranscripts replays every testdata/*.txt session.
func TestTranscripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) == 0 {
		t.Fatal("no transcripts in testdata")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			tr := parseTranscript(string(data))
			var args []string
			for _, a := range strings.Split(tr.sections["args"], "\n") {
				if a != "" {
					args = append(args, a)
				}
			}
			dir := t.TempDir()
			for i, a := range args {
				args[i] = strings.ReplaceAll(a, "$TMP", dir)
			}
			var out, errb bytes.Buffer
			err = run(context.Background(), args, strings.NewReader(tr.sections["stdin"]), &out, &errb)
			exit := "0\n"
			if err != nil {
				exit = "1\n"
			}
			got := map[string]string{
				"stdout": times.ReplaceAllString(out.String(), "TIME"),
				"stderr": times.ReplaceAllString(errb.String(), "TIME"),
				"exit":   exit,
			}
			if *update {
				for _, k := range []string{"stdout", "stderr", "exit"} {
					if _, ok := tr.sections[k]; !ok {
						tr.order = append(tr.order, k)
					}
					tr.sections[k] = got[k]
				}
				os.WriteFile(file, []byte(tr.format()), 0o666)
				return
			}
			for _, k := range []string{"stdout", "stderr", "exit"} {
				if got[k] != tr.sections[k] {
					t.Errorf("%s: %s =\n%s\nwant\n%s", file, k, got[k], tr.sections[k])
				}
			}
		})
	}
}

// TestExamples runs every examples/*.loom script and compares what it
// prints (output and errors, in order) with examples/NAME.out.
func TestExamples(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.loom")
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), []string{"-u", "glenda", file}, strings.NewReader(""), &out, &out)
			if err != nil {
				t.Errorf("loom %s: %v", file, err)
			}
			got := times.ReplaceAllString(out.String(), "TIME")
			golden := strings.TrimSuffix(file, ".loom") + ".out"
			if *update {
				os.WriteFile(golden, []byte(got), 0o666)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("loom %s =\n%s\nwant (%s)\n%s", file, got, golden, want)
			}
		})
	}
}
