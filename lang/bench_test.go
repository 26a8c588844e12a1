package lang

import (
	"strings"
	"testing"
)

// script1000 is a 1,000-line script in the style of real ones.
func script1000() []byte {
	chunk := `# build a part of the tree
mkdir -p /tmp/part/a /tmp/part/b
x=(alpha beta gamma) y=$x^.c
for(f in $x) {
	echo $f > /tmp/part/a/$f
	if(~ $f beta) cat /tmp/part/a/$f | tr a-z A-Z >> /tmp/log
	if not echo skipped $f >[2=1]
}
switch($#x) {
case 3
	echo three
case *
	echo other ` + "`" + `{ls /tmp/part}
}
fn show { ls -l $* && ns || echo 'failed: '^$status }
bind -a /tmp/part/a /tmp/part/b
system web { mount ramfs /tmp; start httpd busybox httpd -f }

`
	var b strings.Builder
	n, per := 0, strings.Count(chunk, "\n")
	for ; n+per <= 1000; n += per {
		b.WriteString(chunk)
	}
	for ; n < 1000; n++ {
		b.WriteString("echo filler line\n")
	}
	return []byte(b.String())
}

func BenchmarkParse1000(b *testing.B) {
	src := script1000()
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(src, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFormat1000(b *testing.B) {
	f, err := Parse(script1000(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		Format(f)
	}
}

func TestScript1000(t *testing.T) {
	src := script1000()
	if n := strings.Count(string(src), "\n"); n != 1000 {
		t.Fatalf("script1000 has %d lines; want 1000", n)
	}
	if _, err := Parse(src, "bench"); err != nil {
		t.Fatal(err)
	}
}
