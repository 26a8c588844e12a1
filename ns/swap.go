package ns

import (
	"context"
	"sync"
)

// swapMu serialises Swaps, which lock two namespaces each.
var swapMu sync.Mutex

// Swap exchanges the mount tables of n and m, and with them what their
// texts say, in one step: a walk in either that the exchange overlaps is
// made again, so that it goes through the one table or the other whole,
// never a part of each. It is how a namespace is rebuilt aside and put
// in place at once: fork it, Clear the fork, replay into it, Swap.
//
// Files walked before the exchange keep what they reached. A walk is
// made again at each exchange that overlaps it, so exchanges are meant
// to come far apart, as rebuilds do, not one on the heels of another.
//
// Both go on giving device numbers from the greater of their two
// counters. Since m is meant to be a Fork of n, Files of n from before
// the Fork never share a device number with m's mounts; mounts made in
// n after the Fork may, so n should not change between the Fork and the
// Swap.
func (n *Namespace) Swap(m *Namespace) {
	if n == m {
		return
	}
	swapMu.Lock()
	defer swapMu.Unlock()
	n.mu.Lock()
	m.mu.Lock()
	n.t, m.t = m.t, n.t
	n.dev = max(n.dev, m.dev)
	n.seq = max(n.seq, m.seq)
	m.dev, m.seq = n.dev, n.seq
	n.gen.Add(1)
	m.gen.Add(1)
	m.mu.Unlock()
	n.mu.Unlock()
}

// walk is walk1 made again until no Swap overlaps it: each step of a walk
// looks up the mount table anew, and a walk that went through the old
// table and then the new would reach neither namespace's file.
func (n *Namespace) walk(ctx context.Context, from *file, names []string, deps *[]uint64) ([]Qid, *file, error) {
	for {
		gen := n.gen.Load()
		mark := 0
		if deps != nil {
			mark = len(*deps)
		}
		qids, f, err := n.walk1(ctx, from, names, deps)
		if n.gen.Load() == gen {
			return qids, f, err
		}
		if f != nil {
			f.Clunk()
		}
		if deps != nil {
			*deps = (*deps)[:mark]
		}
		if ctx.Err() != nil {
			return nil, nil, ErrInterrupt
		}
	}
}
