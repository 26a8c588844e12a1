package ns

import (
	"context"
	"strings"
)

// MaxWalk is the most names one Walk may be given (walk(5)'s MAXWELEM).
const MaxWalk = 16

// SplitPath splits a slash-separated path into walk names, dropping empty
// elements and ".": "/a//b/./c" is [a b c]. ".." is kept: what it means
// is the file server's business.
func SplitPath(p string) []string {
	var names []string
	for _, e := range strings.Split(p, "/") {
		if e != "" && e != "." {
			names = append(names, e)
		}
	}
	return names
}

// WalkPath walks from f through the names of the slash-separated path p,
// MaxWalk names at a time, and returns a new File for the end. Unlike
// File.Walk, a walk that stops short is an error: ErrNotExist, or the
// error the file server gave. f itself is unchanged.
func WalkPath(ctx context.Context, f File, p string) (File, error) {
	names := SplitPath(p)
	cur := f
	for first := true; first || len(names) > 0; first = false {
		n := min(len(names), MaxWalk)
		qids, next, err := cur.Walk(ctx, names[:n])
		if cur != f {
			cur.Clunk()
		}
		if err == nil && next == nil {
			err = ErrNotExist
		}
		if err != nil {
			if len(qids) < n && len(qids) > 0 && !qids[len(qids)-1].IsDir() {
				err = ErrNotDir
			}
			return nil, err
		}
		cur, names = next, names[n:]
	}
	return cur, nil
}

// ReadAll reads the open file f from offset 0 to its end.
func ReadAll(ctx context.Context, f File) ([]byte, error) {
	var b []byte
	buf := make([]byte, 8192)
	for {
		n, err := f.Read(ctx, buf, int64(len(b)))
		if err != nil {
			return b, err
		}
		if n == 0 {
			return b, nil
		}
		b = append(b, buf[:n]...)
	}
}
