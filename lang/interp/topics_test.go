package interp

import (
	"context"
	"strings"
	"testing"

	"loom/ns"
)

// TestTopics: help lists topics under their heading and prints one's
// help by name.
func TestTopics(t *testing.T) {
	topics := WithTopics("kinds:", Topic{Name: "ramfs", Synopsis: "ramfs", Doc: "an empty tree", Help: "ramfs: more\nlines"})
	out, _, status := runScript(t, "help", topics)
	if status != "" || !strings.Contains(out, "kinds::\n  ramfs  an empty tree\nhelp NAME says more.\n") {
		t.Errorf("help = %q, status %q; want the kinds listed at the end", out, status)
	}
	out, _, status = runScript(t, "help ramfs", topics)
	if status != "" || out != "ramfs: more\nlines\n" {
		t.Errorf("help ramfs = %q, %q; want the topic's help", out, status)
	}
}

// recorder is a Systems that records the commands it is given.
type recorder struct {
	NoSystems
	got [][]string
}

func (r *recorder) Command(_ context.Context, _ IO, system string, args []string) error {
	r.got = append(r.got, append([]string{system}, args...))
	return nil
}

// TestPostMount: post hands the components layer an absolute path; mount
// of a path hands the resolver the absolute path.
func TestPostMount(t *testing.T) {
	rec := &recorder{}
	var srcs []string
	resolve := func(ctx context.Context, src string, args []string) (ns.FS, string, error) {
		srcs = append(srcs, src)
		return resolveRamfs(ctx, "ramfs", nil)
	}
	_, errOut, status := runScript(t, "cd /tmp; post web; post sub x; mkdir /n; mount ../srv/web /n; mount -c ./y /n",
		WithSystems(rec), WithNamespace(FromNamespace(newNS(t), resolve)))
	if status != "" || errOut != "" {
		t.Fatalf("status %q, stderr %q", status, errOut)
	}
	if got := strings.Join(srcs, " "); got != "/srv/web /tmp/y" {
		t.Errorf("mount sources = %q; want /srv/web /tmp/y", got)
	}
	var got []string
	for _, c := range rec.got {
		got = append(got, strings.Join(c, " "))
	}
	if strings.Join(got, "|") != "loom post web /|loom post sub /tmp/x" {
		t.Errorf("commands = %q; want post with absolute paths", got)
	}
}
