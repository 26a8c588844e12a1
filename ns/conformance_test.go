package ns_test

import (
	"testing"

	"loom/ns"
	"loom/ns/nstest"
)

// conformant returns a namespace of several servers: a root, a mount,
// a union of three with a name two members share, a file bound over a
// file and a directory bound from elsewhere.
func conformant(t *testing.T) *ns.Namespace {
	return build(t, map[string]ns.FS{
		"R": ram(t, "R", "n/", "n/a/", "n/u/", "n/u/old", "lib/", "lib/deep/", "lib/deep/d1", "f1", "f2"),
		"A": ram(t, "A", "a", "common", "sub/", "sub/s", "secret"),
		"B": ram(t, "B", "b", "common", "sub/", "sub/t"),
	}, `mount -c R /
mount -c A /n/a
mount -a A /n/u
mount -bc B /n/u
bind /f1 /f2
bind /lib/deep /n/a/sub
`)
}

func TestConformance(t *testing.T) {
	t.Run("namespace", func(t *testing.T) {
		nstest.TestFS(t, conformant(t), nstest.Expect("n/u/b", "n/u/old", "n/a/sub/d1", "f2"))
	})
	t.Run("readonly", func(t *testing.T) {
		nstest.TestFS(t, ns.ReadOnly(conformant(t)), nstest.ReadOnly(), nstest.Expect("n/u/a"))
	})
	t.Run("hide", func(t *testing.T) {
		nstest.TestFS(t, ns.Hide(conformant(t), "/n/a/secret", "/n/u/common"), nstest.Expect("n/a/a"))
	})
	t.Run("readonly-hide", func(t *testing.T) {
		nstest.TestFS(t, ns.ReadOnly(ns.Hide(conformant(t), "/n/a/secret")), nstest.ReadOnly())
	})
	t.Run("hide-readonly", func(t *testing.T) {
		nstest.TestFS(t, ns.Hide(ns.ReadOnly(secrets(t)), "/secret", "/d/hidden"), nstest.ReadOnly())
	})
	t.Run("forked", func(t *testing.T) {
		f := conformant(t).Fork()
		if err := f.Unmount("", "/n/u"); err != nil {
			t.Fatal(err)
		}
		nstest.TestFS(t, f)
	})
}
