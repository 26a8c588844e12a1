package ninep

import "time"

// SetFlushWait sets how long a caller who gave up waits for an Rflush,
// and returns a function that puts it back.
func SetFlushWait(d time.Duration) (restore func()) {
	old := flushWait
	flushWait = d
	return func() { flushWait = old }
}
