package nstest

import (
	"runtime"
	"testing"
	"time"
)

// Settle waits up to a second for the number of goroutines to come back
// to n, the count before a test started blocked reads, and reports the
// stacks of any left behind.
func Settle(t testing.TB, n int) {
	t.Helper()
	for i := 0; i < 200 && runtime.NumGoroutine() > n; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > n {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines = %d; want %d\n%s", got, n, buf[:runtime.Stack(buf, true)])
	}
}
