package metadata

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"sync"
)

// CommitWatcher is implemented by stores that can tell an agent when any
// agent sharing the store has committed a file, so long-polling fetches on
// one agent wake up for data produced through another. Stores without it
// only wake fetches for the agent's own commits.
type CommitWatcher interface {
	// WatchCommits calls fn soon after each commit by any agent, with the
	// partitions the commit gave data, until ctx ends, then returns ctx's
	// error. A nil committed means the partitions are not known (a commit
	// of many partitions, or commits that may have been missed): every
	// waiter should look. Several commits may share one call, and calls
	// may be spurious. It survives store outages by reconnecting, and
	// calls fn(nil) after reconnecting. fn must not block.
	WatchCommits(ctx context.Context, fn func(committed []TopicPartition)) error
}

// maxNotifyPayload bounds an encoded commit notification; PostgreSQL's
// NOTIFY payload must stay under 8000 bytes.
const maxNotifyPayload = 7000

// EncodeCommitNotice is the payload a store's commit notification carries:
// the partitions as "base64 topic ID:partition", comma-separated, or ""
// (every waiter looks) when they would not fit.
func EncodeCommitNotice(parts []TopicPartition) string {
	var b []byte
	for i, p := range parts {
		if i > 0 {
			b = append(b, ',')
		}
		b = base64.RawURLEncoding.AppendEncode(b, p.Topic[:])
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(p.Partition), 10)
		if len(b) > maxNotifyPayload {
			return ""
		}
	}
	return string(b)
}

// DecodeCommitNotice reads EncodeCommitNotice's payload; nil (every waiter
// looks) for "" or a payload it cannot read.
func DecodeCommitNotice(payload string) []TopicPartition {
	if payload == "" {
		return nil
	}
	var parts []TopicPartition
	for item := range strings.SplitSeq(payload, ",") {
		id, part, ok := strings.Cut(item, ":")
		raw, err := base64.RawURLEncoding.DecodeString(id)
		n, perr := strconv.ParseInt(part, 10, 32)
		if !ok || err != nil || len(raw) != len(TopicID{}) || perr != nil {
			return nil
		}
		var tp TopicPartition
		copy(tp.Topic[:], raw)
		tp.Partition = int32(n)
		parts = append(parts, tp)
	}
	return parts
}

// Broadcast wraps a Store shared by several agents in one process (`sluice
// dev --agents N`): every successful CommitFile through it is announced to
// its WatchCommits callers.
type Broadcast struct {
	Store

	mu   sync.Mutex // guards subs and next
	subs map[int]func([]TopicPartition)
	next int
}

var _ CommitWatcher = (*Broadcast)(nil)

// NewBroadcast wraps s.
func NewBroadcast(s Store) *Broadcast {
	return &Broadcast{Store: s, subs: map[int]func([]TopicPartition){}}
}

// CommitFile commits through the wrapped store and announces success.
func (b *Broadcast) CommitFile(ctx context.Context, c FileCommit) ([]BatchResult, error) {
	res, err := b.Store.CommitFile(ctx, c)
	if err == nil {
		b.announce(appended(nil, make(map[TopicPartition]bool), c.Batches, res))
	}
	return res, err
}

// CommitFiles commits through the wrapped store and announces success.
func (b *Broadcast) CommitFiles(ctx context.Context, files []FileCommit) ([]FileResult, error) {
	res, err := b.Store.CommitFiles(ctx, files)
	if err == nil {
		var parts []TopicPartition
		seen := make(map[TopicPartition]bool)
		for i := range files {
			if i < len(res) && res[i].Err == nil {
				parts = appended(parts, seen, files[i].Batches, res[i].Batches)
			}
		}
		b.announce(parts)
	}
	return res, err
}

// appended adds to parts the partitions, not in seen, that batches got
// offsets in.
func appended(parts []TopicPartition, seen map[TopicPartition]bool, batches []BatchCommit, res []BatchResult) []TopicPartition {
	for i, bc := range batches {
		tp := TopicPartition{bc.TopicID, bc.Partition}
		if i < len(res) && res[i].Err == nil && !res[i].Duplicate && !seen[tp] {
			seen[tp] = true
			parts = append(parts, tp)
		}
	}
	return parts
}

func (b *Broadcast) announce(parts []TopicPartition) {
	if len(parts) == 0 {
		return
	}
	b.mu.Lock()
	for _, fn := range b.subs {
		fn(parts)
	}
	b.mu.Unlock()
}

// WatchCommits implements CommitWatcher.
func (b *Broadcast) WatchCommits(ctx context.Context, fn func([]TopicPartition)) error {
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
