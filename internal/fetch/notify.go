package fetch

import (
	"sync"

	"github.com/sluicehq/sluice/internal/metadata"
)

// Notifier wakes long-polling fetches when data commits to a partition they
// read. It is safe for concurrent use.
type Notifier struct {
	mu sync.Mutex // guards watches and the fired flag of every Watch in it
	// watches holds, per partition, the Watches waiting for it.
	watches map[metadata.TopicPartition][]*Watch
}

// Watch is one fetch's interest in commits to its partitions, from Watch
// until Stop.
type Watch struct {
	n     *Notifier
	parts []metadata.TopicPartition
	ch    chan struct{} // closed when the watch fires
	fired bool          // guarded by n.mu
}

// NewNotifier returns a ready Notifier.
func NewNotifier() *Notifier {
	return &Notifier{watches: map[metadata.TopicPartition][]*Watch{}}
}

// Watch returns a Watch whose channel C is closed by the first Notify that
// names one of parts (or names none). Take it before checking for data, so
// a commit between the check and the wait is not missed, and Stop it when
// done.
func (n *Notifier) Watch(parts []metadata.TopicPartition) *Watch {
	w := &Watch{n: n, parts: parts, ch: make(chan struct{})}
	n.mu.Lock()
	for _, p := range parts {
		n.watches[p] = append(n.watches[p], w)
	}
	n.mu.Unlock()
	return w
}

// C returns the channel Notify closes.
func (w *Watch) C() <-chan struct{} { return w.ch }

// Stop forgets the watch (a no-op once it fired).
func (w *Watch) Stop() {
	n := w.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if !w.fired {
		w.fired = true
		n.forgetLocked(w)
	}
}

// forgetLocked removes w from the lists of its partitions.
func (n *Notifier) forgetLocked(w *Watch) {
	for _, p := range w.parts {
		ws := n.watches[p]
		for i, x := range ws {
			if x == w {
				ws[i] = ws[len(ws)-1]
				ws[len(ws)-1] = nil
				ws = ws[:len(ws)-1]
				break
			}
		}
		if len(ws) == 0 {
			delete(n.watches, p)
		} else {
			n.watches[p] = ws
		}
	}
}

// Notify wakes the watches of the partitions committed, or every watch
// when committed is empty (a commit whose partitions are unknown, such as
// another agent's announced by the metadata store).
func (n *Notifier) Notify(committed ...metadata.TopicPartition) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(committed) == 0 {
		for _, ws := range n.watches {
			for _, w := range ws {
				if !w.fired {
					w.fired = true
					close(w.ch)
				}
			}
		}
		clear(n.watches) // every watch is forgotten at once
		return
	}
	for _, p := range committed {
		for len(n.watches[p]) > 0 {
			// fireLocked removes w from this list too.
			n.fireLocked(n.watches[p][0])
		}
	}
}

// fireLocked closes w's channel and forgets it.
func (n *Notifier) fireLocked(w *Watch) {
	if w.fired {
		return
	}
	w.fired = true
	close(w.ch)
	n.forgetLocked(w)
}
