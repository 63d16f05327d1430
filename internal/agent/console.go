package agent

import (
	"context"
	"time"

	"github.com/sluicehq/sluice/internal/adminapi"
	"github.com/sluicehq/sluice/internal/console"
)

// summaryInterval is how often the console's throughput summary samples
// the agent's metrics.
const summaryInterval = 5 * time.Second

// startConsole builds the admin API and the web console over the same
// request path the Kafka listener uses, and starts the summary sampler
// (stopped by ctx).
func (a *Agent) startConsole(ctx context.Context, nodeID int32) {
	started := time.Now()
	a.summary = adminapi.NewSummary(a.metrics)
	a.admin = adminapi.New(adminapi.Config{
		Kafka:     a.server,
		Store:     a.store,
		Readiness: a.readiness,
		NodeID:    nodeID,
		Zone:      a.cfg.Zone,
		StartedAt: started,
		AgentTTL:  a.cfg.AgentTTL,
		ReadOnly:  a.cfg.ConsoleReadOnly,
		Summary:   a.summary,
		Logger:    a.logger,
		// Authenticate stays nil (anonymous) until the cluster's
		// credentials exist (security branch); see docs/console.md.
	})
	a.console = console.New(a.admin)
	a.summaryDone = make(chan struct{})
	go func() {
		defer close(a.summaryDone)
		a.summary.Run(ctx, summaryInterval)
	}()
}

// readiness is the readiness checker's view, for the admin API.
func (a *Agent) readiness() adminapi.Readiness {
	bucket, store, ready := a.health.snapshot()
	conv := func(c componentState) adminapi.Component {
		return adminapi.Component{State: c.State, LastError: c.LastError, LastOKAt: c.LastOKAt}
	}
	return adminapi.Readiness{Ready: ready, Bucket: conv(bucket), Metadata: conv(store)}
}
