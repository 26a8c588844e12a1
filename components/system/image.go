package system

// The image: a snapshot as a file, what save writes and load reads.
//
//	"loom image\n"                 the magic line
//	u32 version                    1; a newer one is refused before all else
//	section ...                    u8 kind, u64 length, length bytes
//	section kind 0xff, length 0    the end
//	[32]byte SHA-256               of every byte above
//
// Integers are big-endian. A string is a u32 length and its bytes; a
// list of strings a u32 count and the strings. The sections, in order:
//
//	1 head    string system, string snapshot, i64 time (ns since 1970),
//	          u64 bytes of tree data (for progress)
//	2 ns      the namespace's text, the whole section
//	3 policy  string name, list allow, list readonly, list devices,
//	          u8 network, u32 n, n × (string limit, i64 value)
//	4 env     list NAME=value
//	5 log     u32 n, n × (i64 time, string writer, string text)
//	6 srv     u32 n, n × (string name, string address)
//	7 procs   u32 n, n × (string name, list args, list env, string dir):
//	          each host process's whole definition (proc.Def)
//	8 comp    string name, string kind, list args, u8 tree; and when tree
//	          is 1, the tree's files, each u8 1, string path, u32 mode,
//	          string uid, gid, muid, u32 mtime, u32 atime, u64 length and
//	          the data, the root first and each directory before what it
//	          holds; u8 0 ends them. One comp section per component,
//	          named KIND.N after its kind.
//	9 view    what was done in the sandbox's view after the sandbox
//	          was applied (Snapshot.View), binds and mounts in
//	          namespace text, the whole section; empty for a system in
//	          no sandbox
//
// The version is still 1 although the procs section gained env and dir
// and the view section was added: no image had left this tree before
// they were, so there is no older file of version 1 to read. From now on
// a change of the format bumps it.
//
// A loader reads the version, then checks the SHA-256 of the whole file
// before it makes anything; it bounds every length by what is left of
// its section, and the sections but comp by a size of their own, before
// it allocates by it; it reads tree data a chunk at a time; and it
// hashes what it decodes again, so that a file changed under it is
// refused too. A system is made of an image only when all of it has
// been read, and registered only when made. Servers posted in srv that
// are of this loom (not 9P addresses) are not written: another loom
// could not reach them.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"loom/components/kinds"
	"loom/components/proc"
	"loom/components/ramfs"
	"loom/ns"
)

const (
	imageMagic   = "loom image\n"
	imageVersion = 1

	secHead   = 1
	secNS     = 2
	secPolicy = 3
	secEnv    = 4
	secLog    = 5
	secSrv    = 6
	secProcs  = 7
	secComp   = 8
	secView   = 9
	secEnd    = 0xff

	maxSection = 64 << 20 // of any section but comp
	maxString  = 1 << 20  // of a string in a section
	hashSize   = sha256.Size
)

// ErrImage is the error of an image that is corrupt, truncated or of a
// version this loom does not read.
var ErrImage = errors.New("bad image")

// imageError makes an error of a bad image.
func imageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrImage, fmt.Sprintf(format, args...))
}

// An enc builds a section's bytes.
type enc struct{ b bytes.Buffer }

func (e *enc) u8(v uint8)   { e.b.WriteByte(v) }
func (e *enc) u32(v uint32) { e.b.Write(binary.BigEndian.AppendUint32(nil, v)) }
func (e *enc) u64(v uint64) { e.b.Write(binary.BigEndian.AppendUint64(nil, v)) }
func (e *enc) str(s string) { e.u32(uint32(len(s))); e.b.WriteString(s) }
func (e *enc) list(ss []string) {
	e.u32(uint32(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}

// progress reports, to out, how much of a large save or load is done, a
// few times a second at most.
type progress struct {
	out   io.Writer
	verb  string
	total int64
	done  int64
	last  time.Time
	shown bool
}

// progressOver is the size past which saves and loads show progress.
const progressOver = 64 << 20

func (p *progress) add(n int64) {
	p.done += n
	if p.out == nil || p.total <= progressOver {
		return
	}
	if now := time.Now(); now.Sub(p.last) >= 300*time.Millisecond {
		p.last, p.shown = now, true
		fmt.Fprintf(p.out, "%s: %s of %s\n", p.verb, sizeText(min(p.done, p.total)), sizeText(p.total))
	}
}

func (p *progress) end() {
	if p.shown {
		fmt.Fprintf(p.out, "%s: %s of %s\n", p.verb, sizeText(p.total), sizeText(p.total))
	}
}

// sizeText gives n bytes as people read them: 512 MiB, 1.0 GiB.
func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// countWriter counts what goes through it into progress.
type countWriter struct {
	w io.Writer
	p *progress
}

func (c countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.p.add(int64(n))
	return n, err
}

// WriteImage writes sn to w as an image, showing progress on out (nil
// for none).
func WriteImage(w io.Writer, sn *Snapshot, out io.Writer) error {
	h := sha256.New()
	p := &progress{out: out, verb: "save", total: sn.Size()}
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 1<<20)
	cw := countWriter{bw, p}
	section := func(kind uint8, e *enc) error {
		var hd [9]byte
		hd[0] = kind
		binary.BigEndian.PutUint64(hd[1:], uint64(e.b.Len()))
		if _, err := bw.Write(hd[:]); err != nil {
			return err
		}
		_, err := bw.Write(e.b.Bytes())
		return err
	}
	bw.WriteString(imageMagic)
	bw.Write(binary.BigEndian.AppendUint32(nil, imageVersion))

	var e enc
	e.str(sn.System)
	e.str(sn.Name)
	e.u64(uint64(sn.Time.UnixNano()))
	e.u64(uint64(p.total))
	if err := section(secHead, &e); err != nil {
		return err
	}
	e = enc{}
	e.b.Write(sn.NS)
	if err := section(secNS, &e); err != nil {
		return err
	}
	e = enc{}
	e.b.Write(sn.View)
	if err := section(secView, &e); err != nil {
		return err
	}
	e = enc{}
	pol := sn.Policy
	e.str(pol.Name)
	e.list(pol.Allow)
	e.list(pol.ReadOnly)
	e.list(pol.Devices)
	e.u8(uint8(pol.Network))
	e.u32(uint32(len(pol.Limits)))
	// In order, so that one state always makes the same bytes.
	for _, k := range slices.Sorted(maps.Keys(pol.Limits)) {
		e.str(k)
		e.u64(uint64(pol.Limits[k]))
	}
	if err := section(secPolicy, &e); err != nil {
		return err
	}
	e = enc{}
	e.list(sn.Vars)
	if err := section(secEnv, &e); err != nil {
		return err
	}
	e = enc{}
	e.u32(uint32(len(sn.Log)))
	for _, l := range sn.Log {
		e.u64(uint64(l.Time.UnixNano()))
		e.str(l.Writer)
		e.str(l.Text)
	}
	if err := section(secLog, &e); err != nil {
		return err
	}
	e = enc{}
	var addrs []SrvEntry
	for _, s := range sn.Srv {
		if s.Local == nil {
			addrs = append(addrs, s)
		}
	}
	e.u32(uint32(len(addrs)))
	for _, s := range addrs {
		e.str(s.Name)
		e.str(s.Addr)
	}
	if err := section(secSrv, &e); err != nil {
		return err
	}
	e = enc{}
	e.u32(uint32(len(sn.Procs)))
	for _, pd := range sn.Procs {
		e.str(pd.Name)
		e.list(pd.Args)
		e.list(pd.Env)
		e.str(pd.Dir)
	}
	if err := section(secProcs, &e); err != nil {
		return err
	}
	for _, c := range sn.Comps {
		if err := writeComp(bw, cw, c); err != nil {
			return err
		}
	}
	bw.Write([]byte{secEnd, 0, 0, 0, 0, 0, 0, 0, 0})
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(h.Sum(nil))
	p.end()
	return err
}

// entryHead encodes a tree file's entry up to its data.
func entryHead(e *enc, en ramfs.Entry) {
	e.u8(1)
	e.str(en.Path)
	e.u32(uint32(en.Mode))
	e.str(en.Uid)
	e.str(en.Gid)
	e.str(en.Muid)
	e.u32(en.Mtime)
	e.u32(en.Atime)
	e.u64(uint64(en.Length))
}

// writeComp writes a comp section: its length first, which for a tree
// takes a pass over its entries.
func writeComp(bw *bufio.Writer, data io.Writer, c kinds.Component) error {
	var e enc
	e.str(c.Name)
	e.str(c.Kind)
	e.list(c.Args)
	t, tree := c.FS.(*ramfs.FS)
	if !tree {
		e.u8(0)
		var hd [9]byte
		hd[0] = secComp
		binary.BigEndian.PutUint64(hd[1:], uint64(e.b.Len()))
		bw.Write(hd[:])
		_, err := bw.Write(e.b.Bytes())
		return err
	}
	e.u8(1)
	length := int64(e.b.Len()) + 1 // and the end of the entries
	err := t.Entries(func(en ramfs.Entry, _ io.ReaderAt) error {
		var h enc
		entryHead(&h, en)
		length += int64(h.b.Len()) + en.Length
		return nil
	})
	if err != nil {
		return err
	}
	var hd [9]byte
	hd[0] = secComp
	binary.BigEndian.PutUint64(hd[1:], uint64(length))
	bw.Write(hd[:])
	bw.Write(e.b.Bytes())
	err = t.Entries(func(en ramfs.Entry, r io.ReaderAt) error {
		var h enc
		entryHead(&h, en)
		if _, err := bw.Write(h.b.Bytes()); err != nil {
			return err
		}
		_, err := io.Copy(data, io.NewSectionReader(r, 0, en.Length))
		return err
	})
	if err != nil {
		return err
	}
	return bw.WriteByte(0)
}

// SaveImage writes sn to the file name atomically: to a new file beside
// it, synced, then renamed over it, so that name holds either what it
// held before or the whole image, whenever the saver stops.
func SaveImage(sn *Snapshot, name string, out io.Writer) (err error) {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := WriteImage(f, sn, out); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return err
	}
	// The rename itself is durable once the directory is.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// A dec reads an image's bytes, hashing them, within the bounds of the
// section it is in.
type dec struct {
	r    *bufio.Reader
	h    hash.Hash
	left int64 // bytes left of the section
	p    *progress
}

func (d *dec) read(b []byte) error {
	if int64(len(b)) > d.left {
		return imageError("a section ends early")
	}
	if _, err := io.ReadFull(d.r, b); err != nil {
		return imageError("truncated")
	}
	d.h.Write(b)
	d.left -= int64(len(b))
	d.p.add(int64(len(b)))
	return nil
}

func (d *dec) u8() (uint8, error) {
	var b [1]byte
	err := d.read(b[:])
	return b[0], err
}

func (d *dec) u32() (uint32, error) {
	var b [4]byte
	err := d.read(b[:])
	return binary.BigEndian.Uint32(b[:]), err
}

func (d *dec) u64() (uint64, error) {
	var b [8]byte
	err := d.read(b[:])
	return binary.BigEndian.Uint64(b[:]), err
}

func (d *dec) str() (string, error) {
	n, err := d.u32()
	if err != nil {
		return "", err
	}
	if int64(n) > d.left || n > maxString {
		return "", imageError("a string of %d bytes is too long", n)
	}
	b := make([]byte, n)
	err = d.read(b)
	return string(b), err
}

// count reads a count of things each at least min bytes long.
func (d *dec) count(min int64) (int, error) {
	n, err := d.u32()
	if err != nil {
		return 0, err
	}
	if int64(n)*min > d.left {
		return 0, imageError("a count of %d is more than the section holds", n)
	}
	return int(n), nil
}

func (d *dec) list() ([]string, error) {
	n, err := d.count(4)
	if err != nil {
		return nil, err
	}
	var ss []string
	for range n {
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		ss = append(ss, s)
	}
	return ss, nil
}

// Read implements io.Reader for tree data, within the section.
func (d *dec) Read(b []byte) (int, error) {
	if d.left == 0 {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), d.left)]
	n, err := d.r.Read(b)
	d.h.Write(b[:n])
	d.left -= int64(n)
	d.p.add(int64(n))
	if err == io.EOF && n < len(b) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// ReadImage reads the image in the file name and returns its snapshot,
// showing progress on out (nil for none). A file that is not a whole,
// unchanged image of a version this loom reads is refused with an error
// that matches ErrImage, before anything is made of it.
func ReadImage(name string, out io.Writer) (*Snapshot, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return decodeImage(f, st.Size(), out)
}

// decodeImage reads an image of size bytes from r.
func decodeImage(r io.ReaderAt, size int64, out io.Writer) (*Snapshot, error) {
	head := make([]byte, len(imageMagic)+4)
	if size < int64(len(head))+hashSize {
		return nil, imageError("too short to be an image")
	}
	if _, err := r.ReadAt(head, 0); err != nil {
		return nil, imageError("unreadable: %v", err)
	}
	if string(head[:len(imageMagic)]) != imageMagic {
		return nil, imageError("not a loom image")
	}
	if v := binary.BigEndian.Uint32(head[len(imageMagic):]); v != imageVersion {
		if v > imageVersion {
			return nil, imageError("version %d is newer than this loom reads (%d)", v, imageVersion)
		}
		return nil, imageError("unknown version %d", v)
	}
	body := size - hashSize
	want := make([]byte, hashSize)
	if _, err := r.ReadAt(want, body); err != nil {
		return nil, imageError("unreadable: %v", err)
	}
	// First the whole file's checksum, before anything is made: the
	// file is read twice, which progress counts.
	p := &progress{out: out, verb: "load", total: 2 * size}
	h := sha256.New()
	if _, err := io.Copy(countWriter{h, p}, io.NewSectionReader(r, 0, body)); err != nil {
		return nil, imageError("unreadable: %v", err)
	}
	if !bytes.Equal(h.Sum(nil), want) {
		return nil, imageError("checksum mismatch: corrupt or truncated")
	}
	d := &dec{r: bufio.NewReaderSize(io.NewSectionReader(r, 0, body), 1<<20), h: sha256.New(), p: p}
	d.left = int64(len(head))
	d.read(head)
	sn, err := decodeSections(d, body)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(d.h.Sum(nil), want) {
		return nil, imageError("the file changed while it was read")
	}
	p.end()
	return sn, nil
}

// decodeSections reads the sections of an image, whose body (all but
// the checksum) is body bytes long.
func decodeSections(d *dec, body int64) (*Snapshot, error) {
	sn := &Snapshot{}
	pos := int64(len(imageMagic) + 4)
	seen := map[uint8]bool{}
	for {
		d.left = 9
		kind, err := d.u8()
		if err != nil {
			return nil, err
		}
		n, err := d.u64()
		if err != nil {
			return nil, err
		}
		pos += 9
		if n > uint64(body-pos) {
			return nil, imageError("section %d of %d bytes is past the end", kind, n)
		}
		if kind != secComp && n > maxSection {
			return nil, imageError("section %d of %d bytes is too large", kind, n)
		}
		if kind == secEnd {
			if n != 0 || pos != body {
				return nil, imageError("data after the end")
			}
			break
		}
		if kind != secComp && seen[kind] {
			return nil, imageError("section %d twice", kind)
		}
		seen[kind] = true
		d.left = int64(n)
		if err := decodeSection(d, kind, sn); err != nil {
			return nil, err
		}
		if d.left != 0 {
			return nil, imageError("section %d has %d bytes left over", kind, d.left)
		}
		pos += int64(n)
	}
	for _, k := range []uint8{secHead, secNS, secView, secPolicy, secEnv, secLog, secSrv, secProcs} {
		if !seen[k] {
			return nil, imageError("section %d missing", k)
		}
	}
	return sn, nil
}

func decodeSection(d *dec, kind uint8, sn *Snapshot) error {
	var err error
	switch kind {
	case secHead:
		if sn.System, err = d.str(); err != nil {
			return err
		}
		if sn.Name, err = d.str(); err != nil {
			return err
		}
		t, err := d.u64()
		if err != nil {
			return err
		}
		sn.Time = time.Unix(0, int64(t))
		_, err = d.u64()
		return err
	case secNS:
		b := make([]byte, d.left)
		if err := d.read(b); err != nil {
			return err
		}
		sn.NS = b
		if _, err := ns.ParseText("image", b); err != nil {
			return imageError("namespace: %v", err)
		}
	case secView:
		b := make([]byte, d.left)
		if err := d.read(b); err != nil {
			return err
		}
		sn.View = b
		cmds, err := ns.ParseText("view", b)
		if err != nil {
			return imageError("view: %v", err)
		}
		for _, c := range cmds {
			if c.Op != "bind" && c.Op != "mount" {
				return imageError("view: %v: %s: only binds and mounts are made in a view", c.Pos, c.Op)
			}
		}
	case secPolicy:
		p := &sn.Policy
		if p.Name, err = d.str(); err != nil {
			return err
		}
		for _, l := range []*[]string{&p.Allow, &p.ReadOnly, &p.Devices} {
			if *l, err = d.list(); err != nil {
				return err
			}
		}
		net, err := d.u8()
		if err != nil {
			return err
		}
		p.Network = Network(net)
		if _, err := ParseNetwork(p.Network.String()); err != nil {
			return imageError("bad network %d", net)
		}
		n, err := d.count(12)
		if err != nil {
			return err
		}
		for range n {
			k, err := d.str()
			if err != nil {
				return err
			}
			v, err := d.u64()
			if err != nil {
				return err
			}
			if p.Limits == nil {
				p.Limits = map[string]int64{}
			}
			p.Limits[k] = int64(v)
		}
	case secEnv:
		sn.Vars, err = d.list()
		return err
	case secLog:
		n, err := d.count(16)
		if err != nil {
			return err
		}
		for range n {
			t, err := d.u64()
			if err != nil {
				return err
			}
			w, err := d.str()
			if err != nil {
				return err
			}
			text, err := d.str()
			if err != nil {
				return err
			}
			sn.Log = append(sn.Log, LogLine{Time: time.Unix(0, int64(t)).UTC(), Writer: w, Text: text})
		}
	case secSrv:
		n, err := d.count(8)
		if err != nil {
			return err
		}
		for range n {
			name, err := d.str()
			if err != nil {
				return err
			}
			addr, err := d.str()
			if err != nil {
				return err
			}
			sn.Srv = append(sn.Srv, SrvEntry{Name: name, Addr: addr})
		}
	case secProcs:
		n, err := d.count(16)
		if err != nil {
			return err
		}
		for range n {
			var pd proc.Def
			if pd.Name, err = d.str(); err != nil {
				return err
			}
			if pd.Args, err = d.list(); err != nil {
				return err
			}
			if len(pd.Args) == 0 {
				return imageError("a process with no arguments")
			}
			if pd.Env, err = d.list(); err != nil {
				return err
			}
			if pd.Dir, err = d.str(); err != nil {
				return err
			}
			sn.Procs = append(sn.Procs, pd)
		}
	case secComp:
		return decodeComp(d, sn)
	default:
		return imageError("unknown section %d", kind)
	}
	return nil
}

func decodeComp(d *dec, sn *Snapshot) error {
	var c kinds.Component
	var err error
	if c.Name, err = d.str(); err != nil {
		return err
	}
	if c.Kind, err = d.str(); err != nil {
		return err
	}
	if c.Args, err = d.list(); err != nil {
		return err
	}
	k, ok := kinds.Lookup(c.Kind)
	if !ok || k.Shared {
		return imageError("component %s: kind %q is not one to keep", c.Name, c.Kind)
	}
	// As the system names them: a name of any other form could be one
	// a policy's view reserves (sandboxServer).
	if n, ok := strings.CutPrefix(c.Name, c.Kind+"."); !ok || !seqName(n) {
		return imageError("component %s: not named %s.N", c.Name, c.Kind)
	}
	for _, o := range sn.Comps {
		if o.Name == c.Name {
			return imageError("component %s twice", c.Name)
		}
	}
	tree, err := d.u8()
	if err != nil {
		return err
	}
	switch {
	case tree == 1 && c.Kind == "ramfs":
		t, err := decodeTree(d)
		if err != nil {
			return fmt.Errorf("component %s: %w", c.Name, err)
		}
		c.FS = t
	case tree != 0:
		return imageError("component %s: bad tree flag %d", c.Name, tree)
	}
	sn.Comps = append(sn.Comps, c)
	return nil
}

// seqName reports whether n is a component's number: decimal, from 1,
// without leading zeros.
func seqName(n string) bool {
	if n == "" || n[0] == '0' || len(n) > 9 {
		return false
	}
	for _, r := range n {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func decodeTree(d *dec) (*ramfs.FS, error) {
	t := ramfs.New()
	for first := true; ; first = false {
		more, err := d.u8()
		if err != nil {
			return nil, err
		}
		switch {
		case more == 0 && !first:
			return t, nil
		case more != 1:
			return nil, imageError("bad tree entry mark %d", more)
		}
		var e ramfs.Entry
		if e.Path, err = d.str(); err != nil {
			return nil, err
		}
		if first != (e.Path == "") {
			return nil, imageError("a tree's first entry must be its root, and only that")
		}
		mode, err := d.u32()
		if err != nil {
			return nil, err
		}
		e.Mode = ns.Perm(mode)
		for _, s := range []*string{&e.Uid, &e.Gid, &e.Muid} {
			if *s, err = d.str(); err != nil {
				return nil, err
			}
		}
		if e.Mtime, err = d.u32(); err != nil {
			return nil, err
		}
		if e.Atime, err = d.u32(); err != nil {
			return nil, err
		}
		l, err := d.u64()
		if err != nil {
			return nil, err
		}
		if l > uint64(d.left) {
			return nil, imageError("%s: %d bytes of data, more than the section holds", e.Path, l)
		}
		e.Length = int64(l)
		if err := t.Put(e, d); err != nil {
			return nil, imageError("%v", err)
		}
	}
}

// snapshotFor gives the snapshot spec names, NAME or NAME@SNAP: the one
// kept, or a new one that is not kept.
func (s *Systems) snapshotFor(ctx context.Context, spec string) (*Snapshot, error) {
	name, snap, at := strings.Cut(spec, "@")
	sys, err := s.Get(name)
	if err != nil {
		return nil, err
	}
	if at {
		return sys.SnapshotByName(snap)
	}
	return sys.capture(ctx)
}

// Save writes the system spec names (NAME, now, or NAME@SNAP, its
// snapshot) to the file name, atomically, showing progress on out.
func (s *Systems) Save(ctx context.Context, out io.Writer, spec, name string) error {
	sn, err := s.snapshotFor(ctx, spec)
	if err != nil {
		return fmt.Errorf("save %s: %w", spec, err)
	}
	for _, e := range sn.Srv {
		if e.Local != nil && out != nil {
			fmt.Fprintf(out, "save: /srv/%s is a server of this loom, not an address: not saved\n", e.Name)
		}
	}
	if err := SaveImage(sn, name, out); err != nil {
		return fmt.Errorf("save %s: %w", spec, err)
	}
	return nil
}

// Load makes and registers the system saved in the file name, called as
// (the name it had when saved, if as is ""), showing progress on out.
// Nothing is made of a file that is not a whole, good image.
func (s *Systems) Load(ctx context.Context, out io.Writer, name, as string) (*System, error) {
	sn, err := ReadImage(name, out)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	if as == "" {
		as = sn.System
	}
	if _, err := s.Get(as); err == nil {
		return nil, fmt.Errorf("load %s: %s: %w", name, as, ErrExist)
	}
	sys, err := s.fromSnapshot(ctx, as, sn)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	if err := s.add(sys); err != nil {
		sys.Close()
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	return sys, nil
}

// cmdSave: save [NAME[@SNAP]] FILE
func cmdSave(s *Systems, ctx context.Context, out io.Writer, cur string, args []string) error {
	switch len(args) {
	case 2:
		return s.Save(ctx, out, cur, args[1])
	case 3:
		return s.Save(ctx, out, args[1], args[2])
	}
	return errors.New("usage: save [system[@snapshot]] file")
}

// cmdLoad: load FILE [as NEW]
func cmdLoad(s *Systems, ctx context.Context, out io.Writer, cur string, args []string) error {
	as := ""
	switch {
	case len(args) == 2:
	case len(args) == 4 && args[2] == "as":
		as = args[3]
	default:
		return errors.New("usage: load file [as system]")
	}
	sys, err := s.Load(ctx, out, args[1], as)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", sys.Name)
	return err
}
