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
// their own.
//
// request_percentage (KIP-124) bounds the handler time of every request
// but the exempt ones (requestQuotaExempt), counted against the same
// entity and window: a quota of P allows P% of one second of handler time
// per second (Kafka's is a percentage of one request or network thread;
// Sluice has no thread pools, so one busy handler for a whole second is
// 100). Handler time is the wall time from dispatch to the response,
// minus what the handler spent waiting on others (request.waited: a
// fetch's long poll, a produce's wait for its flush, a group member's
// wait for the rebalance). When both a byte rate and the request quota
// throttle a response, it carries the larger throttle time and the
// connection is muted for that long.
//
// Deviations: the response itself is never delayed (Kafka delays it for
// clients older than KIP-219 instead of muting); controller_mutation_rate
// is stored and described but not enforced. Quotas are per agent, as
// Kafka's are per broker: a client spreading its traffic over N agents may
// reach N times its quota.

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/dynconfig"
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
	return s.recordQuota(req, key, float64(n))
}

// recordQuota counts n units of usage on key against the connection's
// quota, if one applies, mutes the connection for the throttle time and
// returns it in milliseconds.
func (s *Server) recordQuota(req *request, key string, n float64) int32 {
	user := req.principal.Name
	if user == "" {
		user = "ANONYMOUS"
	}
	limit, bucket, ok := s.dyn.Snapshot().QuotaFor(user, req.clientID, key)
	if !ok {
		return 0
	}
	d := s.quotas.Record(bucket, key, limit, n, time.Now())
	if d <= 0 {
		return 0
	}
	s.metrics.throttled(key, d)
	req.mute.extend(d)
	return int32(d / time.Millisecond)
}

// requestQuotaExempt are the API keys whose time no request_percentage
// quota counts and whose responses it never throttles: ApiVersions and
// the SASL exchange, which a client needs before it can be identified.
// Kafka also exempts its cluster-action (inter-broker) APIs; Sluice
// serves none of them.
var requestQuotaExempt = map[int16]bool{17: true, 18: true, 36: true}

// requestTime counts busy, a request's handler time less its waits,
// against the connection's request_percentage quota (in percent of one
// second, the unit the quota's rate is in) and raises resp's
// throttle_time_ms to the throttle time it returns, if that is longer
// than a byte-rate quota's. resp may be nil (produce with acks=0): the
// connection is still muted.
func (s *Server) requestTime(req *request, resp kmsg.Response, busy time.Duration) {
	if req == nil || req.key < 0 || requestQuotaExempt[req.key] {
		return
	}
	ms := s.recordQuota(req, dynconfig.RequestPercentage, max(busy, 0).Seconds()*100)
	if ms <= 0 {
		return
	}
	if tr, ok := resp.(kmsg.ThrottleResponse); ok {
		if cur, _ := tr.Throttle(); cur >= ms {
			return
		}
	}
	if sr, ok := resp.(kmsg.SetThrottleResponse); ok {
		sr.SetThrottle(ms)
	}
}
