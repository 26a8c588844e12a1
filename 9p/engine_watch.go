package ninep

import (
	"sync"
	"time"
)

// The watchdog hands the reader role on for requests that have been
// served in place for a tick without waiting on their context: a large
// read from a slow disk, say, which should not hold up the requests
// behind it for long. One goroutine watches every 9P2000 connection of
// the process, and runs only while there are some.

// watchTick is the watchdog's period: a request served in place runs at
// most about two ticks before the connection reads on without it.
const watchTick = 5 * time.Millisecond

var watchdog struct {
	mu      sync.Mutex
	conns   map[*conn9]uint64 // served count seen at the last tick
	running bool
}

func watchConn(c *conn9) {
	watchdog.mu.Lock()
	defer watchdog.mu.Unlock()
	if watchdog.conns == nil {
		watchdog.conns = make(map[*conn9]uint64)
	}
	watchdog.conns[c] = c.served.Load()
	if !watchdog.running {
		watchdog.running = true
		go watch()
	}
}

func unwatchConn(c *conn9) {
	watchdog.mu.Lock()
	delete(watchdog.conns, c)
	watchdog.mu.Unlock()
}

func watch() {
	t := time.NewTicker(watchTick)
	defer t.Stop()
	var slow []*conn9
	for range t.C {
		slow = slow[:0]
		watchdog.mu.Lock()
		if len(watchdog.conns) == 0 {
			watchdog.running = false
			watchdog.mu.Unlock()
			return
		}
		for c, last := range watchdog.conns {
			// The same request in place as a tick ago, still running.
			n := c.served.Load()
			if c.inline.Load() && n == last {
				slow = append(slow, c)
			}
			watchdog.conns[c] = n
		}
		watchdog.mu.Unlock()
		for _, c := range slow {
			c.handOff()
		}
		clear(slow)
	}
}
