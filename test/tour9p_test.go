package test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
	"github.com/hugelgupf/p9/p9"
)

// A tourClient is what the tour needs of a 9P client: files by path.
// Each implementation speaks through one third-party client alone.
type tourClient interface {
	mkdir(p string) error
	// put creates the file p, or truncates it, and writes data.
	put(p, data string) error
	// add appends data to the file p.
	add(p, data string) error
	get(p string) (string, error)
	// ls lists a directory's names, sorted.
	ls(p string) ([]string, error)
	// ctl writes script to the ctl file p and reads back what it
	// printed, on one open.
	ctl(p, script string) (string, error)
	// texts reports whether the client's errors carry the server's
	// text: 9P2000's do; 9P2000.L's carry an errno only.
	texts() bool
}

// tourBuild builds cmd/loom into a directory of the test's.
func tourBuild(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "loom")
	if out, err := exec.Command("go", "build", "-o", bin, "loom/cmd/loom").CombinedOutput(); err != nil {
		t.Fatalf("go build loom/cmd/loom: %v\n%s", err, out)
	}
	return bin
}

// tourServe runs loom serve on a unix socket and returns the
// socket's path once the server says it listens.
func tourServe(t *testing.T) string {
	t.Helper()
	bin := tourBuild(t)
	sock := filepath.Join(t.TempDir(), "loom.sock")
	startServing(t, exec.Command(bin, "serve", "-listen", "unix!"+sock))
	return sock
}

// startServing starts cmd, a loom serve, stops it when the test ends,
// and returns the address in dial form that its first line says it
// serves on.
func startServing(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.Contains(line, "serving") {
		t.Fatalf("loom serve said %q, %v; want it serving", line, err)
	}
	go io.Copy(io.Discard, out)
	return strings.TrimSpace(line[strings.LastIndex(line, " "):])
}

// TestTour9fans does everything examples/tour.loom does, clone steps
// included, against loom serve's tree through 9fans.net's 9P2000 client
// alone.
func TestTour9fans(t *testing.T) {
	sock := tourServe(t)
	conn, err := client.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fsys, err := conn.Attach(nil, "glenda", "")
	if err != nil {
		t.Fatal(err)
	}
	tour(t, tourFans{fsys})
}

// TestTourP9 does the same through hugelgupf/p9's 9P2000.L client alone.
func TestTourP9(t *testing.T) {
	sock := tourServe(t)
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p9.NewClient(nc)
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	defer c.Close()
	root, err := c.Attach("")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	tour(t, tourP9{root})
}

// tour is examples/tour.loom as a 9P client does it: files under
// /systems/NAME/root, binds, mounts and commands written to
// /systems/NAME/ctl, systems and clones made through /ctl, a sandbox
// through /sandboxes.
func tour(t *testing.T, c tourClient) {
	const r = "/systems/loom/root"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	get := func(p string) string {
		t.Helper()
		s, err := c.get(p)
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		return s
	}
	ls := func(p string) []string {
		t.Helper()
		names, err := c.ls(p)
		if err != nil {
			t.Fatalf("ls %s: %v", p, err)
		}
		return names
	}
	ctl := func(p, script string) string {
		t.Helper()
		out, err := c.ctl(p, script)
		if err != nil {
			t.Fatalf("write %q to %s: %v", script, p, err)
		}
		return out
	}
	same := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s = %q; want %q", what, got, want)
		}
	}

	// The namespace, as namespace(6) text. (The ramfs trees' names,
	// ramfs or ramfs.N, are the components layer's to give.)
	defaultNS := get("/systems/loom/ns")
	if !regexp.MustCompile(`^mount -c ramfs(\.\d+)? /\nmount dev /dev\nmount -c env /env\nmount -c srv /srv\n` +
		`mount -c log /log\nmount proc /proc\nmount -c ramfs(\.\d+)? /tmp\n$`).MatchString(defaultNS) {
		t.Errorf("read /systems/loom/ns = %q; want the default system's", defaultNS)
	}
	same("ls /", ls("/"), []string{"ctl", "sandboxes", "systems"})

	// A small tree.
	for _, d := range []string{"/lib", "/lib/web", "/lib/web/static", "/lib/web/templates"} {
		must(c.mkdir(r + d))
	}
	must(c.put(r+"/lib/web/static/index.html", "<h1>hello</h1>\n"))
	must(c.put(r+"/lib/web/static/site.css", "body { color: black }\n"))
	must(c.put(r+"/lib/web/templates/page.tmpl", "{{.Title}}\n"))
	same("ls /lib/web/static", ls(r+"/lib/web/static"), []string{"index.html", "site.css"})

	// A union directory.
	must(c.mkdir(r + "/www"))
	ctl("/systems/loom/ctl", "bind /lib/web/static /www")
	ctl("/systems/loom/ctl", "bind -a /lib/web/templates /www")
	same("ls /www", ls(r+"/www"), []string{"index.html", "page.tmpl", "site.css"})
	if got := get(r + "/www/index.html"); got != "<h1>hello</h1>\n" {
		t.Errorf("read /www/index.html = %q", got)
	}

	// Another file server that allows creating files.
	must(c.mkdir(r + "/n"))
	must(c.mkdir(r + "/n/scratch"))
	ctl("/systems/loom/ctl", "mount -c ramfs /n/scratch")
	must(c.put(r+"/n/scratch/note", "a note\n"))
	must(c.add(r+"/n/scratch/note", "another line\n"))
	if got := get(r + "/n/scratch/note"); got != "a note\nanother line\n" {
		t.Errorf("read /n/scratch/note = %q", got)
	}
	wantNS := regexp.MustCompile("^" + regexp.QuoteMeta(defaultNS) +
		"bind /lib/web/static /www\nbind -a /lib/web/templates /www\nmount -c ramfs(\\.\\d+)? /n/scratch\n$")
	if got := get("/systems/loom/ns"); !wantNS.MatchString(got) {
		t.Errorf("ns after binds and mount = %q; want %q", got, wantNS)
	}

	// Lists, functions, loops and pipelines: the language itself, as a
	// script written to the system's ctl.
	script := `files=` + "`" + `{ls -p /www}
echo $#files files: $files
fn count {
	echo $#* arguments
}
count $files
for(f in $files) {
	switch($f) {
	case *.html *.css
		echo $f is served as is
	case *
		echo $f is a template
	}
}
cat /www/site.css /www/index.html | {
	read first
	echo first line: $first
}
`
	want := "3 files: index.html page.tmpl site.css\n3 arguments\nindex.html is served as is\n" +
		"page.tmpl is a template\nsite.css is served as is\nfirst line: body { color: black }\n"
	if got := ctl("/systems/loom/ctl", script); got != want {
		t.Errorf("script output =\n%s\nwant\n%s", got, want)
	}

	// Errors name the path; a ctl write's error is the command's, and a
	// syntax error says where and runs nothing.
	if _, err := c.get(r + "/www/missing"); err == nil || !strings.Contains(err.Error(), "not found") && !strings.Contains(err.Error(), "no such file") {
		t.Errorf("read /www/missing = %v; want it not found", err)
	}
	if _, err := c.ctl("/systems/loom/ctl", "cat /www/missing"); err == nil || c.texts() && err.Error() != "cat: /www/missing: file does not exist" {
		t.Errorf("ctl cat /www/missing = %v; want cat's error", err)
	}
	if _, err := c.ctl("/systems/loom/ctl", "mkdir /x\necho 'open"); err == nil || c.texts() && !strings.HasPrefix(err.Error(), "/systems/loom/ctl:2:6: ") {
		t.Errorf("ctl with a syntax error = %v; want its position", err)
	}
	if _, err := c.get(r + "/x"); err == nil {
		t.Errorf("/x exists after a script with a syntax error")
	}

	// A script longer than a 9P message reaches the ctl file in pieces,
	// cut wherever the client cut it (within a line, within a block);
	// it runs as one script: what the first piece sets the last sees.
	var big strings.Builder
	big.WriteString("first=(set first)\n")
	for i := range 14000 {
		fmt.Fprintf(&big, "b=%05d\n", i)
	}
	big.WriteString("{\n")
	for i := range 5000 {
		fmt.Fprintf(&big, "\tc=%05d\n", i)
	}
	big.WriteString("}\necho $first $b $c\n")
	if big.Len() <= 131072 {
		t.Fatalf("the long script is %d bytes; want it longer than 9fans' msize", big.Len())
	}
	if got := ctl("/systems/loom/ctl", big.String()); got != "set first 13999 04999\n" {
		t.Errorf("a %d-byte script printed %q; want %q", big.Len(), got, "set first 13999 04999\n")
	}

	// Undo the bind.
	ctl("/systems/loom/ctl", "unmount /lib/web/templates /www")
	same("ls /www after unmount", ls(r+"/www"), []string{"index.html", "site.css"})

	// Devices, variables, processes and services are files.
	if u, err := user.Current(); err == nil {
		if got := get(r + "/dev/user"); got != u.Username {
			t.Errorf("read /dev/user = %q; want %q", got, u.Username)
		}
	}
	must(c.put(r+"/env/greeting", "hello"))
	pid := strings.TrimSpace(ctl("/systems/loom/ctl", "start sh -c 'echo $greeting from a host process'"))
	if pid != "1" {
		t.Fatalf("start printed %q; want 1", pid)
	}
	if got := get(r + "/proc/1/stdout"); got != "hello from a host process\n" {
		t.Errorf("read /proc/1/stdout = %q", got)
	}
	if got := get(r + "/proc/1/wait"); !regexp.MustCompile(`^1 \d+ \d+ \d+ ''\n$`).MatchString(got) {
		t.Errorf("read /proc/1/wait = %q; want success", got)
	}
	ctl("/systems/loom/ctl", "post web /lib/web")
	if got := get(r + "/srv/web"); strings.TrimSpace(got) != "local" {
		t.Errorf("read /srv/web = %q; want local", got)
	}
	must(c.mkdir(r + "/n/web"))
	ctl("/systems/loom/ctl", "mount /srv/web /n/web")
	same("ls /n/web", ls(r+"/n/web"), []string{"static", "templates"})

	// Systems, sandboxes and clones.
	ctl("/ctl", "system web {\n}")
	same("ls /systems", ls("/systems"), []string{"loom", "web"})
	const w = "/systems/web/root"
	must(c.mkdir(w + "/www"))
	must(c.mkdir(w + "/lib"))
	must(c.mkdir(w + "/lib/html"))
	ctl("/systems/web/ctl", "mount -c ramfs /www")
	must(c.put(w+"/www/index.html", "<h1>hello</h1>\n"))
	ctl("/systems/web/ctl", "bind -c /www /lib/html")
	must(c.put(w+"/env/site", "web\n"))
	if got := get("/systems/web/status"); !regexp.MustCompile(`(?m)^ramfs\.\d+ ramfs running files=1 bytes=15$`).MatchString(got) {
		t.Errorf("read /systems/web/status =\n%s\nwant a line for the tree on /www", got)
	}

	must(c.put("/sandboxes/offline", "allow /tmp /lib /env\nreadonly /lib\nnetwork none\nlimit memory 64M processes 32\n"))
	if got := get("/sandboxes/offline"); got != "allow /env /lib /tmp\nreadonly /lib\nnetwork none\nlimit memory 64M processes 32\n" {
		t.Errorf("read /sandboxes/offline = %q", got)
	}
	if err := c.put("/sandboxes/offline", "network nowhere\n"); err == nil {
		t.Errorf("write of a bad rule to /sandboxes/offline succeeded")
	}

	ctl("/ctl", "clone web as web2 in offline")
	same("ls /systems after clone", ls("/systems"), []string{"loom", "web", "web2"})
	const w2 = "/systems/web2/root"
	if got := get(w2 + "/lib/html/index.html"); got != "<h1>hello</h1>\n" {
		t.Errorf("read web2's /lib/html/index.html = %q", got)
	}
	same("ls web2's /", ls(w2), []string{"env", "lib", "tmp"})
	if err := c.put(w2+"/lib/html/x", "hi\n"); err == nil || !strings.Contains(err.Error(), "permission denied") && !errors.Is(err, syscall.EACCES) {
		t.Errorf("write web2's /lib/html/x = %v; want permission denied", err)
	}
	must(c.put(w2+"/env/site", "web2\n"))
	if got := get(w + "/env/site"); got != "web\n" {
		t.Errorf("web's /env/site after web2 wrote its own = %q; want web", got)
	}
	ctl("/systems/loom/ctl", "stop web2")
	ctl("/systems/loom/ctl", "stop web")
	same("ls /systems at the end", ls("/systems"), []string{"loom"})
}

// tourFans is the tour's client over 9fans.net's plan9/client.
type tourFans struct{ fsys *client.Fsys }

func (tourFans) texts() bool { return true }

func (c tourFans) mkdir(p string) error {
	f, err := c.fsys.Create(p, plan9.OREAD, plan9.DMDIR|0o777)
	if err != nil {
		return err
	}
	return f.Close()
}

func (c tourFans) put(p, data string) error {
	f, err := c.fsys.Open(p, plan9.OWRITE|plan9.OTRUNC)
	if err != nil {
		if f, err = c.fsys.Create(p, plan9.OWRITE, 0o666); err != nil {
			return err
		}
	}
	defer f.Close()
	_, err = f.Write([]byte(data))
	return err
}

func (c tourFans) add(p, data string) error {
	f, err := c.fsys.Open(p, plan9.OWRITE)
	if err != nil {
		return err
	}
	defer f.Close()
	d, err := f.Stat()
	if err != nil {
		return err
	}
	_, err = f.WriteAt([]byte(data), int64(d.Length))
	return err
}

func (c tourFans) get(p string) (string, error) {
	f, err := c.fsys.Open(p, plan9.OREAD)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	return string(b), err
}

func (c tourFans) ls(p string) ([]string, error) {
	f, err := c.fsys.Open(p, plan9.OREAD)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ds, err := f.Dirreadall()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
	}
	slices.Sort(names)
	return names, nil
}

func (c tourFans) ctl(p, script string) (string, error) {
	f, err := c.fsys.Open(p, plan9.ORDWR)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Write([]byte(script)); err != nil {
		return "", err
	}
	var b bytes.Buffer
	buf := make([]byte, 8192)
	for off := int64(0); ; {
		n, err := f.ReadAt(buf, off)
		b.Write(buf[:n])
		off += int64(n)
		if err != nil && err != io.EOF {
			return b.String(), err
		}
		if err == io.EOF || n == 0 {
			return b.String(), nil
		}
	}
}

// tourP9 is the tour's client over hugelgupf/p9's 9P2000.L client.
type tourP9 struct{ root p9.File }

func (tourP9) texts() bool { return false }

func (c tourP9) walk(p string) (p9.File, error) {
	var names []string
	for _, e := range strings.Split(p, "/") {
		if e != "" {
			names = append(names, e)
		}
	}
	_, f, err := c.root.Walk(names)
	return f, err
}

func (c tourP9) mkdir(p string) error {
	d, err := c.walk(path.Dir(p))
	if err != nil {
		return err
	}
	defer d.Close()
	_, err = d.Mkdir(path.Base(p), 0o777, p9.NoUID, p9.NoGID)
	return err
}

func (c tourP9) put(p, data string) error {
	f, err := c.walk(p)
	if err == nil {
		defer f.Close()
		if _, _, err := f.Open(p9.WriteOnly | p9.OpenFlags(syscall.O_TRUNC)); err != nil {
			return err
		}
	} else {
		d, err := c.walk(path.Dir(p))
		if err != nil {
			return err
		}
		defer d.Close()
		nf, _, _, err := d.Create(path.Base(p), p9.WriteOnly, 0o666, p9.NoUID, p9.NoGID)
		if err != nil {
			return err
		}
		defer nf.Close()
		f = nf
	}
	_, err = f.WriteAt([]byte(data), 0)
	return err
}

func (c tourP9) add(p, data string) error {
	f, err := c.walk(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, _, attr, err := f.GetAttr(p9.AttrMask{Size: true})
	if err != nil {
		return err
	}
	if _, _, err := f.Open(p9.WriteOnly); err != nil {
		return err
	}
	_, err = f.WriteAt([]byte(data), int64(attr.Size))
	return err
}

// open walks to p and opens it with mode; the file is closed again if
// the open fails.
func (c tourP9) open(p string, mode p9.OpenFlags) (p9.File, error) {
	f, err := c.walk(p)
	if err != nil {
		return nil, err
	}
	if _, _, err := f.Open(mode); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (c tourP9) get(p string) (string, error) {
	f, err := c.open(p, p9.ReadOnly)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return tourReadP9(f)
}

func tourReadP9(f p9.File) (string, error) {
	var b bytes.Buffer
	buf := make([]byte, 8192)
	for off := int64(0); ; {
		n, err := f.ReadAt(buf, off)
		b.Write(buf[:n])
		off += int64(n)
		if err == io.EOF || n == 0 && err == nil {
			return b.String(), nil
		}
		if err != nil {
			return b.String(), err
		}
	}
}

func (c tourP9) ls(p string) ([]string, error) {
	f, err := c.open(p, p9.ReadOnly)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var names []string
	for off := uint64(0); ; {
		ds, err := f.Readdir(off, 8192)
		if err != nil {
			return nil, err
		}
		if len(ds) == 0 {
			break
		}
		for _, d := range ds {
			off = d.Offset
			if d.Name != "." && d.Name != ".." {
				names = append(names, d.Name)
			}
		}
	}
	slices.Sort(names)
	return names, nil
}

func (c tourP9) ctl(p, script string) (string, error) {
	f, err := c.open(p, p9.ReadWrite)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(script), 0); err != nil {
		return "", err
	}
	return tourReadP9(f)
}
