package log

import "loom/ns"

// CopyTo copies the lines l keeps, with their writers' names, owners and
// modes, into dst, after what dst holds: a clone of a system starts with
// the original's log. The lines keep their time stamps. dst must not be l.
func (l *Log) CopyTo(dst *Log) error {
	type wr struct {
		name, uid string
		mode      ns.Perm
		w         *writer
	}
	l.mu.Lock()
	var ws []wr
	for _, n := range l.order {
		for _, w := range l.writers {
			if w.file == n {
				ws = append(ws, wr{w.name, n.Uid, n.Mode, w})
			}
		}
	}
	lines := append([]line(nil), l.lines[l.head:]...)
	l.mu.Unlock()

	to := map[*writer]*writer{}
	for _, w := range ws {
		d, err := dst.writer(w.name, w.uid, w.mode, false)
		if err != nil {
			return err
		}
		to[w.w] = d
	}
	dst.mu.Lock()
	defer dst.mu.Unlock()
	for _, ln := range lines {
		w := to[ln.w]
		if w == nil {
			continue
		}
		dst.lines = append(dst.lines, line{w: w, text: ln.text})
		dst.size += len(ln.text)
		w.size += len(ln.text)
	}
	dst.cond.Broadcast()
	return nil
}
