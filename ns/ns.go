// Package ns is loom's file-server seam and, on top of it, namespaces.
//
// Everything in loom (a component, a namespace, a remote 9P server) is an
// FS: something one attaches to, getting a File, from which one walks to
// other Files and opens, reads, writes and stats them. The interface is
// Plan 9's 9P seen from the server's side, with fids as values: a File is
// what a fid points at.
//
// The 9P server in package ninep polices the protocol before any method
// here runs, so implementations may rely on the preconditions each method
// states; other callers in loom keep the same rules.
//
// Concurrency: methods of different Files may be called concurrently, and
// so may Read, Write, ReadDir and Stat of one open File. Clunk is called
// once per File, after every other call on it has returned; nothing is
// called on a File after its Clunk.
package ns

import "context"

// FS is a file server.
type FS interface {
	// Attach returns the root of the tree named by aname ("" for the
	// default tree) as seen by user. Permission checks on the returned
	// File and on every File walked from it are made for user.
	Attach(ctx context.Context, user, aname string) (File, error)
}

// File is a reference to one file of a file server: what a 9P fid points
// at. A File is either unopened, when it may be walked from, or open,
// when it may be read and written; Open turns the one into the other.
//
// A ctx that is cancelled (a Tflush, a caller giving up) asks a blocked
// method to return; it then returns ErrInterrupt or the ctx's error.
type File interface {
	// Walk walks from this unopened File through names, each one element
	// (no "/"; ".." is the parent and the parent of a root is the root),
	// and returns the Qid of each element reached and, when every
	// element was reached, a new File for the last. With no names it
	// returns a new File for the same file (a clone).
	//
	// When some but not all elements were reached, Walk returns their
	// Qids, a nil File and a nil error; when the first element fails it
	// returns the error. The receiver is unchanged either way.
	// Callers pass at most 16 names, each not "" and not ".".
	Walk(ctx context.Context, names []string) ([]Qid, File, error)

	// Open prepares an unopened File for I/O with mode (OREAD, OWRITE,
	// ORDWR or OEXEC, optionally with OTRUNC and ORCLOSE) after checking
	// the user's permission, and returns the file's current Qid. Open is
	// called at most once per File.
	Open(ctx context.Context, mode uint8) (Qid, error)

	// Read reads from an open file at off, as pread(2). It returns 0, nil
	// at end of file. It is not called on directories.
	Read(ctx context.Context, p []byte, off int64) (int, error)

	// Write writes to an open file at off, as pwrite(2); files whose mode
	// has DMAPPEND write at the end whatever off says.
	Write(ctx context.Context, p []byte, off int64) (int, error)

	// ReadDir returns the entries of an open directory starting at the
	// index'th (0 is the first), at most n of them. It returns no entries
	// and a nil error at the end. Between a ReadDir from index 0 and the
	// next, a caller reading on in order sees each entry at most once.
	ReadDir(ctx context.Context, index, n int) ([]Dir, error)

	// Stat returns the file's metadata.
	Stat(ctx context.Context) (Dir, error)

	// Clunk releases the File. If it was opened with ORCLOSE, the file is
	// removed, and the error, if any, is that of the removal.
	Clunk() error
}

// Creater is a File of a server that can create files.
type Creater interface {
	// Create makes a file called name in the unopened directory File,
	// with permissions perm (DMDIR for a directory), opens it with mode
	// and returns a new open File for it with its Qid. The receiver is
	// unchanged and still to be clunked by the caller.
	Create(ctx context.Context, name string, perm Perm, mode uint8) (File, Qid, error)
}

// Remover is a File of a server that can remove files.
type Remover interface {
	// Remove removes the file. The caller clunks the File afterwards,
	// whether or not Remove succeeded.
	Remove(ctx context.Context) error
}

// Wstater is a File of a server that can change metadata.
type Wstater interface {
	// Wstat changes the fields of d that are not the don't-touch values
	// (see NullDir): all of them or, on error, none. A change of Name
	// renames the file within its directory; a change of Length
	// truncates or extends it.
	Wstat(ctx context.Context, d Dir) error
}
