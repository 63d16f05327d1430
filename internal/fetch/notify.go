package fetch

import "sync"

// Notifier wakes long-polling fetches when new data commits. It is safe for
// concurrent use.
type Notifier struct {
	mu sync.Mutex    // guards ch
	ch chan struct{} // closed and replaced by Notify
}

// NewNotifier returns a ready Notifier.
func NewNotifier() *Notifier { return &Notifier{ch: make(chan struct{})} }

// Changed returns a channel that is closed by the next Notify. Take it before
// checking for data, so a commit between the check and the wait is not
// missed.
func (n *Notifier) Changed() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

// Notify wakes everyone waiting on a channel from Changed.
func (n *Notifier) Notify() {
	n.mu.Lock()
	close(n.ch)
	n.ch = make(chan struct{})
	n.mu.Unlock()
}
