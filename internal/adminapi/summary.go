package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sluicehq/sluice/internal/auth"
)

// Summary keeps the last hour of produce and fetch throughput and latency
// in memory, one bucket per minute. It reads the agent's own Prometheus
// metrics (the counters and histograms the write and read paths already
// keep) and files what changed since the previous sample under the
// current minute, so it adds nothing to the request path. Each agent keeps
// its own; the API merges them (ClusterSummary).
type Summary struct {
	g   prometheus.Gatherer
	now func() time.Time

	mu       sync.Mutex // guards ring, prev and havePrev
	ring     [SummaryMinutes]minute
	prev     sample
	havePrev bool
}

// SummaryMinutes is how many minutes the summary keeps.
const SummaryMinutes = 60

// Metric names the summary reads.
const (
	metricProduceBytes   = "sluice_produce_bytes_total"
	metricProduceRecords = "sluice_produce_records_total"
	metricFetchBytes     = "sluice_fetch_bytes_total"
	metricFetchRecords   = "sluice_fetch_records_total"
	metricRequestSeconds = "sluice_kafka_request_seconds"
	// Per-topic byte counters (label topic).
	metricTopicProduceBytes = "sluice_topic_produce_bytes_total"
	metricTopicFetchBytes   = "sluice_topic_fetch_bytes_total"
)

// hist is a histogram's cumulative state.
type hist struct {
	count  uint64
	sum    float64
	bounds []float64 // upper bounds
	cum    []uint64  // cumulative counts per bound
}

type sample struct {
	produceBytes, produceRecords, fetchBytes, fetchRecords float64
	produce, fetch                                         hist
	// topics holds each topic's produce and fetch byte counters.
	topics map[string]topicBytes
}

// topicBytes is one topic's produce and fetch bytes.
type topicBytes struct{ produce, fetch float64 }

// minute is what happened in one minute.
type minute struct {
	start                                                  time.Time
	produceBytes, produceRecords, fetchBytes, fetchRecords float64
	produce, fetch                                         hist // deltas
	topics                                                 map[string]topicBytes
}

// TopicWindow is how far back a topic's throughput is averaged.
const TopicWindow = 5 * time.Minute

// TopicRate is one topic's throughput averaged over TopicWindow.
type TopicRate struct {
	ProduceBytesPerSec float64 `json:"produce_bytes_per_sec"`
	FetchBytesPerSec   float64 `json:"fetch_bytes_per_sec"`
}

// topicCounter adds mf's per-topic values to cur.topics.
func topicCounter(cur *sample, mf *dto.MetricFamily, fetch bool) {
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() != "topic" {
				continue
			}
			tb := cur.topics[l.GetValue()]
			if fetch {
				tb.fetch += m.GetCounter().GetValue()
			} else {
				tb.produce += m.GetCounter().GetValue()
			}
			cur.topics[l.GetValue()] = tb
		}
	}
}

// NewSummary returns a summary reading g.
func NewSummary(g prometheus.Gatherer) *Summary {
	return &Summary{g: g, now: time.Now}
}

// Run samples every interval until ctx ends.
func (s *Summary) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.Sample()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sample reads the metrics once and files the change since the previous
// sample under the current minute.
func (s *Summary) Sample() {
	mfs, err := s.g.Gather()
	if err != nil && len(mfs) == 0 {
		return
	}
	cur := sample{topics: map[string]topicBytes{}}
	for _, mf := range mfs {
		switch mf.GetName() {
		case metricProduceBytes:
			cur.produceBytes = counterSum(mf)
		case metricTopicProduceBytes:
			topicCounter(&cur, mf, false)
		case metricProduceRecords:
			cur.produceRecords = counterSum(mf)
		case metricFetchBytes:
			cur.fetchBytes = counterSum(mf)
		case metricTopicFetchBytes:
			topicCounter(&cur, mf, true)
		case metricFetchRecords:
			cur.fetchRecords = counterSum(mf)
		case metricRequestSeconds:
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() != "api" {
						continue
					}
					switch l.GetValue() {
					case "Produce":
						cur.produce = histOf(m.GetHistogram())
					case "Fetch":
						cur.fetch = histOf(m.GetHistogram())
					}
				}
			}
		}
	}
	now := s.now()
	start := now.Truncate(time.Minute)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.havePrev {
		s.prev, s.havePrev = cur, true
		return
	}
	b := &s.ring[start.Unix()/60%SummaryMinutes]
	if !b.start.Equal(start) {
		*b = minute{start: start}
	}
	b.produceBytes += delta(cur.produceBytes, s.prev.produceBytes)
	b.produceRecords += delta(cur.produceRecords, s.prev.produceRecords)
	b.fetchBytes += delta(cur.fetchBytes, s.prev.fetchBytes)
	b.fetchRecords += delta(cur.fetchRecords, s.prev.fetchRecords)
	b.produce.add(cur.produce, s.prev.produce)
	b.fetch.add(cur.fetch, s.prev.fetch)
	for t, c := range cur.topics {
		p := s.prev.topics[t]
		d := topicBytes{produce: delta(c.produce, p.produce), fetch: delta(c.fetch, p.fetch)}
		if d == (topicBytes{}) {
			continue
		}
		if b.topics == nil {
			b.topics = map[string]topicBytes{}
		}
		bt := b.topics[t]
		bt.produce += d.produce
		bt.fetch += d.fetch
		b.topics[t] = bt
	}
	s.prev = cur
}

func delta(cur, prev float64) float64 { return max(cur-prev, 0) }

func counterSum(mf *dto.MetricFamily) float64 {
	var v float64
	for _, m := range mf.GetMetric() {
		v += m.GetCounter().GetValue()
	}
	return v
}

func histOf(h *dto.Histogram) hist {
	out := hist{count: h.GetSampleCount(), sum: h.GetSampleSum()}
	for _, b := range h.GetBucket() {
		out.bounds = append(out.bounds, b.GetUpperBound())
		out.cum = append(out.cum, b.GetCumulativeCount())
	}
	return out
}

// add adds the change from prev to cur.
func (h *hist) add(cur, prev hist) {
	if cur.count < prev.count {
		return
	}
	h.count += cur.count - prev.count
	h.sum += max(cur.sum-prev.sum, 0)
	if h.bounds == nil {
		h.bounds = cur.bounds
		h.cum = make([]uint64, len(cur.bounds))
	}
	if len(h.cum) != len(cur.cum) {
		return
	}
	for i := range cur.cum {
		var p uint64
		if i < len(prev.cum) {
			p = prev.cum[i]
		}
		if cur.cum[i] >= p {
			h.cum[i] += cur.cum[i] - p
		}
	}
}

// quantile estimates the q quantile as the upper bound of the bucket it
// falls in (the last finite bound when it is beyond every bound).
func (h *hist) quantile(q float64) float64 {
	if h.count == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(h.count)))
	for i, c := range h.cum {
		if c >= want {
			return h.bounds[i]
		}
	}
	if n := len(h.bounds); n > 0 {
		return h.bounds[n-1]
	}
	return 0
}

// MinuteStats is one minute of the summary.
type MinuteStats struct {
	Start                time.Time `json:"start"`
	ProduceBytesPerSec   float64   `json:"produce_bytes_per_sec"`
	ProduceRecordsPerSec float64   `json:"produce_records_per_sec"`
	FetchBytesPerSec     float64   `json:"fetch_bytes_per_sec"`
	FetchRecordsPerSec   float64   `json:"fetch_records_per_sec"`
	ProduceRequests      uint64    `json:"produce_requests"`
	FetchRequests        uint64    `json:"fetch_requests"`
	ProduceLatencyAvgMs  float64   `json:"produce_latency_avg_ms"`
	ProduceLatencyP99Ms  float64   `json:"produce_latency_p99_ms"`
	FetchLatencyAvgMs    float64   `json:"fetch_latency_avg_ms"`
	FetchLatencyP99Ms    float64   `json:"fetch_latency_p99_ms"`
}

// SummaryReport is the answer of GET /api/v1/metrics/summary.
type SummaryReport struct {
	NodeID int32 `json:"node_id"`
	// Scope is "agent" (this agent's traffic) or "cluster" (merged).
	Scope string `json:"scope"`
	// Agents lists the agents merged; Missing those that did not answer.
	Agents  []int32 `json:"agents,omitempty"`
	Missing []int32 `json:"missing,omitempty"`
	// Minutes holds the last hour, oldest first; minutes without traffic
	// are zeros.
	Minutes        []MinuteStats `json:"minutes"`
	ProduceBytes   float64       `json:"produce_bytes"`
	ProduceRecords float64       `json:"produce_records"`
	FetchBytes     float64       `json:"fetch_bytes"`
	FetchRecords   float64       `json:"fetch_records"`
	// Topics is each topic's throughput over the last TopicWindow (only
	// topics with traffic).
	Topics map[string]TopicRate `json:"topics,omitempty"`
}

// Report returns the last hour, oldest minute first.
func (s *Summary) Report() SummaryReport {
	var r SummaryReport
	r.Scope = "agent"
	if s == nil {
		return r
	}
	now := s.now().Truncate(time.Minute)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := SummaryMinutes - 1; i >= 0; i-- {
		start := now.Add(-time.Duration(i) * time.Minute)
		ms := MinuteStats{Start: start.UTC()}
		b := &s.ring[start.Unix()/60%SummaryMinutes]
		if b.start.Equal(start) {
			ms.ProduceBytesPerSec, ms.ProduceRecordsPerSec = b.produceBytes/60, b.produceRecords/60
			ms.FetchBytesPerSec, ms.FetchRecordsPerSec = b.fetchBytes/60, b.fetchRecords/60
			ms.ProduceRequests, ms.FetchRequests = b.produce.count, b.fetch.count
			if b.produce.count > 0 {
				ms.ProduceLatencyAvgMs = 1000 * b.produce.sum / float64(b.produce.count)
				ms.ProduceLatencyP99Ms = 1000 * b.produce.quantile(0.99)
			}
			if b.fetch.count > 0 {
				ms.FetchLatencyAvgMs = 1000 * b.fetch.sum / float64(b.fetch.count)
				ms.FetchLatencyP99Ms = 1000 * b.fetch.quantile(0.99)
			}
			r.ProduceBytes += b.produceBytes
			r.ProduceRecords += b.produceRecords
			r.FetchBytes += b.fetchBytes
			r.FetchRecords += b.fetchRecords
			if i < int(TopicWindow/time.Minute) {
				for t, tb := range b.topics {
					if r.Topics == nil {
						r.Topics = map[string]TopicRate{}
					}
					tr := r.Topics[t]
					tr.ProduceBytesPerSec += tb.produce / TopicWindow.Seconds()
					tr.FetchBytesPerSec += tb.fetch / TopicWindow.Seconds()
					r.Topics[t] = tr
				}
			}
		}
		r.Minutes = append(r.Minutes, ms)
	}
	return r
}

// MetricsSummary samples and reports this agent's last hour.
func (a *API) MetricsSummary() SummaryReport {
	if a.cfg.Summary != nil {
		a.cfg.Summary.Sample()
	}
	r := a.cfg.Summary.Report()
	r.NodeID = a.cfg.NodeID
	return r
}

// peerTimeout bounds asking another agent for its summary.
const peerTimeout = 2 * time.Second

// ClusterSummary merges every live agent's last hour: this agent's, and
// each other agent's asked over its HTTP listener (the address it
// advertises for the zone peer cache). Agents that advertise no address
// or do not answer in time are listed in Missing.
func (a *API) ClusterSummary(ctx context.Context) SummaryReport {
	r := a.MetricsSummary()
	r.Scope, r.Agents = "cluster", []int32{a.cfg.NodeID}
	agents, err := a.cfg.Store.LiveAgents(ctx, a.cfg.AgentTTL)
	if err != nil {
		return r
	}
	type answer struct {
		node int32
		rep  *SummaryReport
	}
	var others []int32
	answers := make(chan answer)
	for _, ag := range agents {
		if ag.NodeID == a.cfg.NodeID {
			continue
		}
		others = append(others, ag.NodeID)
		go func() {
			rep, err := a.peerSummary(ctx, ag.PeerAddr)
			if err != nil {
				a.cfg.Logger.Debug("summary: agent did not answer", "node_id", ag.NodeID, "err", err)
				rep = nil
			}
			answers <- answer{ag.NodeID, rep}
		}()
	}
	for range others {
		ans := <-answers
		if ans.rep == nil {
			r.Missing = append(r.Missing, ans.node)
			continue
		}
		r.merge(*ans.rep)
		r.Agents = append(r.Agents, ans.node)
	}
	slices.Sort(r.Agents)
	slices.Sort(r.Missing)
	return r
}

func (a *API) peerSummary(ctx context.Context, addr string) (*SummaryReport, error) {
	var rep SummaryReport
	if err := a.askPeer(ctx, addr, "/api/v1/metrics/summary?scope=agent", &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// askPeer GETs path from another agent's HTTP listener within
// peerTimeout and decodes its JSON answer into v.
func (a *API) askPeer(ctx context.Context, addr, path string, v any) error {
	if addr == "" {
		return errors.New("no HTTP address advertised (--peer-cache off)")
	}
	ctx, cancel := context.WithTimeout(ctx, peerTimeout)
	defer cancel()
	// What every agent tells about itself: asked as the anonymous
	// principal, vouched for by the cluster secret when there is one.
	req, err := a.peerRequest(ctx, http.MethodGet, addr, path, nil, auth.Anonymous, nil)
	if err != nil {
		return err
	}
	resp, err := a.cfg.Peer.client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// merge adds another agent's minutes to r's, matched by start time:
// rates and counts add up, average latencies are weighted by requests,
// and p99 takes the larger (an upper bound of the merged p99).
func (r *SummaryReport) merge(o SummaryReport) {
	byStart := map[int64]*MinuteStats{}
	for i := range r.Minutes {
		byStart[r.Minutes[i].Start.Unix()] = &r.Minutes[i]
	}
	for _, om := range o.Minutes {
		m := byStart[om.Start.Unix()]
		if m == nil {
			continue
		}
		m.ProduceLatencyAvgMs = weighted(m.ProduceLatencyAvgMs, m.ProduceRequests, om.ProduceLatencyAvgMs, om.ProduceRequests)
		m.FetchLatencyAvgMs = weighted(m.FetchLatencyAvgMs, m.FetchRequests, om.FetchLatencyAvgMs, om.FetchRequests)
		m.ProduceLatencyP99Ms = max(m.ProduceLatencyP99Ms, om.ProduceLatencyP99Ms)
		m.FetchLatencyP99Ms = max(m.FetchLatencyP99Ms, om.FetchLatencyP99Ms)
		m.ProduceRequests += om.ProduceRequests
		m.FetchRequests += om.FetchRequests
		m.ProduceBytesPerSec += om.ProduceBytesPerSec
		m.ProduceRecordsPerSec += om.ProduceRecordsPerSec
		m.FetchBytesPerSec += om.FetchBytesPerSec
		m.FetchRecordsPerSec += om.FetchRecordsPerSec
	}
	r.ProduceBytes += o.ProduceBytes
	r.ProduceRecords += o.ProduceRecords
	r.FetchBytes += o.FetchBytes
	r.FetchRecords += o.FetchRecords
	for t, or := range o.Topics {
		if r.Topics == nil {
			r.Topics = map[string]TopicRate{}
		}
		tr := r.Topics[t]
		tr.ProduceBytesPerSec += or.ProduceBytesPerSec
		tr.FetchBytesPerSec += or.FetchBytesPerSec
		r.Topics[t] = tr
	}
}

func weighted(a float64, na uint64, b float64, nb uint64) float64 {
	if na+nb == 0 {
		return 0
	}
	return (a*float64(na) + b*float64(nb)) / float64(na+nb)
}

func (a *API) serveSummary(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	switch scope := r.URL.Query().Get("scope"); scope {
	case "", "cluster":
		writeJSON(w, http.StatusOK, a.ClusterSummary(r.Context()))
	case "agent":
		writeJSON(w, http.StatusOK, a.MetricsSummary())
	default:
		return badRequest("scope must be cluster or agent, got %q", scope)
	}
	return nil
}
