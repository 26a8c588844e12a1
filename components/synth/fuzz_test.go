package synth

import (
	"slices"
	"strings"
	"testing"
)

// FuzzTokenize checks that Tokenize never panics and that what it reads
// quotes back, with Quote, to a line that reads the same.
func FuzzTokenize(f *testing.F) {
	for _, s := range []string{"", "kill", "limit 1 2", "note 'a b'", "x 'it''s'", "'", "a\tb\nc", "''", "a'b c'd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := Tokenize(line)
		if err != nil {
			return
		}
		q := make([]string, len(words))
		for i, w := range words {
			q[i] = Quote(w)
		}
		again, err := Tokenize(strings.Join(q, " "))
		if err != nil || !slices.Equal(again, words) {
			t.Errorf("Tokenize(%q) = %q; quoted back and read again: %q, %v", line, words, again, err)
		}
	})
}
