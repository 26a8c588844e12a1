// # Namespaces
//
// A [Namespace] is Plan 9's name space: a mount table over file servers,
// changed by [Namespace.Bind], [Namespace.Mount] and [Namespace.Unmount]
// as bind(2) describes, copied by [Namespace.Fork] as rfork(RFNAMEG)
// copies it, and itself an FS. New("user") starts with an empty root
// directory; the usual start is to mount a server on it:
//
//	nsp := ns.New("loom")
//	nsp.Mount(ramfs.New(), "/", ns.MREPL|ns.MCREATE, "")
//	nsp.Bind("/lib/rc", "/bin", ns.MAFTER)
//
// Names are absolute ("/n/x"; a missing leading slash is implied), and
// both old and new must exist. A mount point is a file, not a name: the
// table is keyed by the file old names (a device number the namespace
// gives each attach, and its Qid.Path, as Plan 9 keys on a channel's
// type, device and qid), so a walk costs map lookups along its path,
// whatever the size of the table, and a file reached by another name (a
// bind elsewhere, "..") shows the same union. Binding onto a directory
// that already has something mounted on it adds to its union rather than
// to the thing mounted, as in Plan 9.
//
// Flags: MREPL replaces old by new; MBEFORE and MAFTER put new first or
// last in the union at old (a new union starts with what old was);
// MCREATE, or'ed with any of them, makes new a place to create in. A file
// binds over a file and a directory over a directory; a file over a
// directory fails with ErrIsDir and a directory over a file with
// ErrNotDir, and so do MBEFORE and MAFTER on files. Binding a union binds
// all its members, in order, as Plan 9 does. Unmount("", old) takes away
// the whole union at old; Unmount(new, old) the first member that is the
// file new names (the first member of the union there, if new names a
// union).
//
// # Unions
//
// A walk looks each name up in the first member of the union that has it
// (Plan 9 walks the run of names up to the next "..", or mount point, in
// that member: a union is not merged below its top). A create in a union
// goes to the first member bound with MCREATE, if no member has the name
// already; with no such member it fails with ErrNoCreate, even when the
// union has one member: in Plan 9 too a mount without -c forbids creation.
// Open, stat, wstat and remove of a union act on its first member.
//
// A read of a union directory lists the members in order, as Plan 9
// does, but lists each name once, from the first member that has it; Plan
// 9 lists a name two members share twice. Listing it once is what a walk
// reaches (the second is unreachable by name), keeps ReadDir's entries
// unique as io/fs and 9P clients expect, and lets stat of each entry
// agree with the listing. An entry that is itself a mount point shows what
// is mounted there under the entry's name, as Plan 9's mountfix does.
//
// # Dot-dot
//
// ".." is resolved as in "Lexical File Names in Plan 9, or Getting Dot-Dot
// Right": each File keeps the path by which it was reached and, for each
// element, the union the walk went into there. ".." returns to the
// element before by that path: to the mount point itself where a mount
// was crossed, and otherwise to the file server's parent. So with a tree
// mounted (or bound) on /n/x, ".." from its child /n/x/a is /n/x, the
// union there, and from its root /n/x is /n, whatever the server takes
// for the parents of those; ".." from a child of a union's second member
// is the union, not that member; ".." of the root is the root. The upshot
// is that, as in Plan 9, the ".." elements of a name may be removed
// lexically (/n/x/.. is /n) without changing what it names.
//
// A File left at a mount point looks up what is mounted there when it is
// used, so a File for a directory sees mounts made on it afterwards, as
// Plan 9's dot does.
//
// Binding a directory onto itself, or onto one of its descendants (bind
// /n /n/loop), works as in Plan 9 and makes a cycle: /n/loop/loop/...
// walks as deep as asked, each walk finite. Code that walks whole trees of
// a namespace must bound its depth.
//
// # Sharing and forking
//
// Every holder of one *Namespace sees the binds of the others at once;
// walks may run concurrently with binds. Fork returns a namespace that
// changes on its own; the two share the mount table until one of them
// changes it, so a fork costs the same for ten mounts as for thousands,
// and a change after it copies only the 64th of the table's index that it
// changes (never the servers' Files).
// Files reached through a namespace keep the servers' Files they use open
// after an unmount, until they are clunked.
//
// # A namespace is a file server
//
// Attach gives the namespace's root, and its Files walk, open, read,
// write, list, stat, create, remove and wstat by delegation to the member
// that has the file, so a namespace can be served over 9P and mounted in
// another. It acts as the user it was made for, whoever attaches:
// serving a namespace lends that user's rights, as Plan 9's exportfs
// does. Since two servers may number their files alike, its Qids are the
// members' Qids with the device number in the top bits of the path.
//
// # Restrictions
//
// [ReadOnly] and [Hide] wrap a file server, a namespace included: a
// read-only view refuses every change with ErrPerm, and a hiding view
// makes paths absent. They wrap at attach, so nothing obtained from them
// leads back to the unwrapped server, and they compose.
//
// # Text
//
// [ParseText] and [PrintText] read and write namespace(6) text, and
// [Namespace.Text] prints a namespace as the binds and mounts that make
// it; [Replay] applies such text to a namespace, with a resolver from
// server names (see [Named]) to servers.
//
// # Beyond Plan 9
//
// Where loom differs from Plan 9, on purpose: a union lists a shared name
// once; a namespace is a file server directly, without exportfs, and maps
// its Qids so that they stay unique; Fork does not copy the mount table;
// ReadOnly and Hide have no Plan 9 counterpart (Plan 9 restricts by
// building a smaller name space); a namespace's text is exact or refused,
// where Plan 9's /proc/n/ns prints names that may no longer mean what they
// did; a union has at most MaxUnion members; namespace text is not
// $-expanded, and MCACHE is remembered but does nothing.
package ns
