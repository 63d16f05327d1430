package kafka

// Client quotas (KIP-546 storage, KIP-257 entities, KIP-219 throttling).
//
// Every produce request's size counts against the connection's
// producer_byte_rate and every fetch response's record bytes against its
// consumer_byte_rate, measured by this agent over Kafka's window
// (dynconfig.Throttler). The quota that applies is the most specific one
// set for the connection's user (its principal's name, ANONYMOUS without
// authentication) and client ID (dynconfig.Snapshot.QuotaFor). Over the
// quota, the response carries throttle_time_ms and the agent reads nothing
// more from the connection for that long (it mutes the channel, as Kafka
// does since KIP-219); clients of produce v6+ and fetch v8+ also wait on
// their own. Deviations: the response itself is never delayed (Kafka
// delays it for clients older than KIP-219 instead of muting);
// request_percentage and controller_mutation_rate are stored and described
// but not enforced. Quotas are per agent, as Kafka's are per broker: a
// client spreading its traffic over N agents may reach N times its quota.

import (
	"context"
	"sync"
	"time"
)

// connMute is the time until which a connection is muted (guarded by mu):
// its read loop reads no request before then.
type connMute struct {
	mu    sync.Mutex
	until time.Time
}

// extend mutes the connection for d from now, unless it already is for
// longer.
func (m *connMute) extend(d time.Duration) {
	if m == nil || d <= 0 {
		return
	}
	until := time.Now().Add(d)
	m.mu.Lock()
	if until.After(m.until) {
		m.until = until
	}
	m.mu.Unlock()
}

// wait blocks until the connection is no longer muted, ctx ends or stop
// is closed (the agent is draining: the connection should finish).
func (m *connMute) wait(ctx context.Context, stop <-chan struct{}) error {
	m.mu.Lock()
	d := time.Until(m.until)
	m.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-stop:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// quotaUsage counts n bytes of usage on key (dynconfig.ProducerByteRate or
// ConsumerByteRate) against the connection's quota, if one applies, and
// mutes the connection for the throttle time it returns. The throttle
// time, in milliseconds, goes into the response.
func (s *Server) quotaUsage(req *request, key string, n int) int32 {
	user := req.principal.Name
	if user == "" {
		user = "ANONYMOUS"
	}
	limit, bucket, ok := s.dyn.Snapshot().QuotaFor(user, req.clientID, key)
	if !ok {
		return 0
	}
	d := s.quotas.Record(bucket, key, limit, float64(n), time.Now())
	if d <= 0 {
		return 0
	}
	s.metrics.throttled(key, d)
	req.mute.extend(d)
	return int32(d / time.Millisecond)
}
