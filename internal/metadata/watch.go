package metadata

import (
	"context"
	"sync"
)

// CommitWatcher is implemented by stores that can tell an agent when any
// agent sharing the store has committed a file, so long-polling fetches on
// one agent wake up for data produced through another. Stores without it
// only wake fetches for the agent's own commits.
type CommitWatcher interface {
	// WatchCommits calls fn soon after each commit by any agent (several
	// commits may share one call, and calls may be spurious) until ctx
	// ends, then returns ctx's error. It survives store outages by
	// reconnecting, and calls fn after reconnecting since commits may have
	// been missed. fn must not block.
	WatchCommits(ctx context.Context, fn func()) error
}

// Broadcast wraps a Store shared by several agents in one process (`sluice
// dev --agents N`): every successful CommitFile through it is announced to
// its WatchCommits callers.
type Broadcast struct {
	Store

	mu   sync.Mutex // guards subs and next
	subs map[int]func()
	next int
}

var _ CommitWatcher = (*Broadcast)(nil)

// NewBroadcast wraps s.
func NewBroadcast(s Store) *Broadcast { return &Broadcast{Store: s, subs: map[int]func(){}} }

// CommitFile commits through the wrapped store and announces success.
func (b *Broadcast) CommitFile(ctx context.Context, c FileCommit) ([]BatchResult, error) {
	res, err := b.Store.CommitFile(ctx, c)
	if err == nil {
		b.mu.Lock()
		for _, fn := range b.subs {
			fn()
		}
		b.mu.Unlock()
	}
	return res, err
}

// WatchCommits implements CommitWatcher.
func (b *Broadcast) WatchCommits(ctx context.Context, fn func()) error {
	b.mu.Lock()
	id := b.next
	b.next++
	b.subs[id] = fn
	b.mu.Unlock()
	<-ctx.Done()
	b.mu.Lock()
	delete(b.subs, id)
	b.mu.Unlock()
	return ctx.Err()
}
