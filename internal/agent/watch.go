package agent

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/fetch"
	"github.com/sluicehq/sluice/internal/metadata"
)

// watchCommits wakes this agent's long-polling fetches whenever any agent
// sharing the metadata store commits (PostgreSQL LISTEN/NOTIFY, or the
// in-process broadcast of sluice dev --agents), until ctx ends. Without it
// a consumer polling one agent would see data produced through another
// only when its fetch wait ran out.
func (a *Agent) watchCommits(ctx context.Context, w metadata.CommitWatcher, n *fetch.Notifier) {
	wakeups := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sluice_commit_notifications_total",
		Help: "Commit notifications from the metadata store (commits by any agent) that woke this agent's long-polling fetches.",
	})
	a.metrics.MustRegister(wakeups)
	a.watchDone = make(chan struct{})
	go func() {
		defer close(a.watchDone)
		w.WatchCommits(ctx, func(committed []metadata.TopicPartition) {
			wakeups.Inc()
			if committed == nil {
				n.Notify() // partitions unknown: every waiting fetch looks
				return
			}
			n.Notify(committed...)
		})
	}()
}

// RefreshMembership reloads the live agents now instead of at the next
// heartbeat: agents started together in one process call it once all are
// up, so none answers Metadata with a partial cluster.
func (a *Agent) RefreshMembership(ctx context.Context) error { return a.registry.Refresh(ctx) }
