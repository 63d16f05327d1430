package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// ScaleConfig is one run of the many-partitions benchmark (Scale): Topics
// topics of PartitionsPerTopic partitions each, a steady load spread
// round-robin over every partition, and the costs that grow with the
// partition count measured around it.
type ScaleConfig struct {
	Brokers            []string
	Prefix             string // topics are named Prefix-00000, Prefix-00001 …
	Topics             int
	PartitionsPerTopic int32
	RecordSize         int
	// Rate is records per second over all partitions; each record goes
	// to the next partition in turn, so a flush of --batch-timeout T
	// touches min(Rate×T, partitions) partitions.
	Rate     float64
	Duration time.Duration
	Linger   time.Duration
	// MetadataRounds is how many all-topics Metadata requests are timed.
	MetadataRounds int
	// FetchPartitions is how many caught-up partitions one timed Fetch
	// names (0: 1,000 or all there are); FetchRounds how many are timed.
	FetchPartitions int
	FetchRounds     int
	// MetricsURL is the agent's /metrics address; commit latencies and
	// the agent's memory are read from it (empty: not reported).
	MetricsURL string
	// CreateBatch is how many topics one CreateTopics request creates.
	CreateBatch int
	Progress    io.Writer
}

// Quantiles summarises a Prometheus histogram's observations in
// milliseconds (interpolated within buckets, as histogram_quantile does).
type Quantiles struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Mean  float64 `json:"mean_ms"`
}

// ScaleResult is what a Scale run measured; it is printed as one JSON line.
type ScaleResult struct {
	Mode       string `json:"mode"`
	Topics     int    `json:"topics"`
	Partitions int    `json:"partitions"`

	CreateSeconds float64 `json:"create_seconds"`

	// MetadataAll times a Metadata request for all topics (nil topics).
	MetadataAll        *Latency `json:"metadata_all"`
	MetadataPartitions int      `json:"metadata_partitions"`
	MetadataBytes      int      `json:"metadata_response_bytes"`

	Records        int64    `json:"records"`
	ProduceErrors  int64    `json:"produce_errors"`
	Seconds        float64  `json:"seconds"`
	RecordsPerS    float64  `json:"records_per_s"`
	ProduceLatency *Latency `json:"produce_latency,omitempty"`

	// Commits are the agent's commit latencies during the load, by the
	// partitions a flush touched (sluice_produce_commit_by_partitions_seconds).
	Commits map[string]*Quantiles `json:"commits,omitempty"`
	// BatchesPerFlush is record batches committed per flush during the
	// load (sluice_produce_batches_total / sluice_produce_flushes_total):
	// about the partitions a flush touched, as the load sends each
	// partition at most one batch per produce request.
	BatchesPerFlush float64 `json:"batches_per_flush,omitempty"`

	// AgentCPUSeconds is the agent's CPU time during the load
	// (process_cpu_seconds_total); CPUPerRecordMicros that over the
	// records acknowledged.
	AgentCPUSeconds    float64 `json:"agent_cpu_seconds,omitempty"`
	CPUPerRecordMicros float64 `json:"agent_cpu_us_per_record,omitempty"`
	// MetadataDuringLoad is the agent's Metadata request latency during
	// the load (sluice_kafka_request_seconds{api="Metadata"}): the
	// producing client's by-name requests.
	MetadataDuringLoad *Quantiles `json:"metadata_during_load,omitempty"`

	// FetchCaughtUp times one Fetch (MaxWait 0) of FetchPartitions
	// partitions, every one at its high watermark.
	FetchCaughtUp   *Latency `json:"fetch_caught_up,omitempty"`
	FetchPartitions int      `json:"fetch_partitions,omitempty"`

	// The agent's memory after the load (process_resident_memory_bytes,
	// go_memstats_heap_inuse_bytes).
	RSSBytes       int64 `json:"agent_rss_bytes,omitempty"`
	HeapInuseBytes int64 `json:"agent_heap_inuse_bytes,omitempty"`

	OK      bool   `json:"ok"`
	Problem string `json:"problem,omitempty"`
}

type scalePartition struct {
	topic     string
	partition int32
}

// Scale runs the many-partitions benchmark against cfg.Brokers.
func Scale(ctx context.Context, cfg ScaleConfig) (*ScaleResult, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("no brokers")
	}
	if cfg.Topics <= 0 || cfg.PartitionsPerTopic <= 0 {
		return nil, errors.New("need --topics and --partitions-per-topic above 0")
	}
	if cfg.RecordSize <= 0 || cfg.Rate <= 0 || cfg.Duration <= 0 {
		return nil, errors.New("need --record-size, --rate and --duration above 0")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "scale"
	}
	if cfg.MetadataRounds <= 0 {
		cfg.MetadataRounds = 5
	}
	if cfg.FetchRounds <= 0 {
		cfg.FetchRounds = 10
	}
	if cfg.CreateBatch <= 0 {
		cfg.CreateBatch = 500
	}
	res := &ScaleResult{Mode: "scale", Topics: cfg.Topics, Partitions: cfg.Topics * int(cfg.PartitionsPerTopic)}
	names := make([]string, cfg.Topics)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%05d", cfg.Prefix, i)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID("sluice-bench-scale"), kgo.RequestTimeoutOverhead(2*time.Minute),
		// Fetch by topic name (v12): v13 and later name topics by ID.
		kgo.MaxVersions(kversion.V3_0_0()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	say := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, format+"\n", args...)
		}
	}

	start := time.Now()
	if err := scaleCreate(ctx, cl, names, cfg.PartitionsPerTopic, cfg.CreateBatch, say); err != nil {
		return nil, err
	}
	res.CreateSeconds = roundTo(time.Since(start).Seconds(), 3)
	say("created %d topics (%d partitions) in %.1fs", cfg.Topics, res.Partitions, res.CreateSeconds)

	if err := scaleMetadata(ctx, cl, cfg, res); err != nil {
		return nil, err
	}
	say("metadata for all topics: p50 %.1f ms, %d partitions", res.MetadataAll.P50, res.MetadataPartitions)

	parts := make([]scalePartition, 0, res.Partitions)
	for _, n := range names {
		for p := range cfg.PartitionsPerTopic {
			parts = append(parts, scalePartition{n, p})
		}
	}
	before, err := scrape(ctx, cfg.MetricsURL)
	if err != nil {
		return nil, err
	}
	if err := scaleProduce(ctx, cfg, parts, res, say); err != nil {
		return nil, err
	}
	after, err := scrape(ctx, cfg.MetricsURL)
	if err != nil {
		return nil, err
	}
	if after != nil {
		res.Commits = commitQuantiles(before, after)
		if f := after.value("sluice_produce_flushes_total", nil) - before.value("sluice_produce_flushes_total", nil); f > 0 {
			b := after.value("sluice_produce_batches_total", nil) - before.value("sluice_produce_batches_total", nil)
			res.BatchesPerFlush = roundTo(b/f, 1)
		}
		res.AgentCPUSeconds = roundTo(after.value("process_cpu_seconds_total", nil)-before.value("process_cpu_seconds_total", nil), 2)
		if res.Records > 0 {
			res.CPUPerRecordMicros = roundTo(res.AgentCPUSeconds/float64(res.Records)*1e6, 1)
		}
		res.MetadataDuringLoad = histogramDelta(before, after, "sluice_kafka_request_seconds", map[string]string{"api": "Metadata"})
		res.RSSBytes = int64(after.value("process_resident_memory_bytes", nil))
		res.HeapInuseBytes = int64(after.value("go_memstats_heap_inuse_bytes", nil))
	}

	n := cfg.FetchPartitions
	if n <= 0 {
		n = 1000
	}
	n = min(n, len(parts))
	if err := scaleFetch(ctx, cl, cfg, parts[:n], res); err != nil {
		return nil, err
	}
	say("fetch of %d caught-up partitions: p50 %.1f ms", n, res.FetchCaughtUp.P50)

	var problems []string
	if res.ProduceErrors > 0 {
		problems = append(problems, fmt.Sprintf("%d produce errors", res.ProduceErrors))
	}
	if res.MetadataPartitions < res.Partitions {
		problems = append(problems, fmt.Sprintf("metadata named %d of %d partitions", res.MetadataPartitions, res.Partitions))
	}
	res.Problem = strings.Join(problems, "; ")
	res.OK = res.Problem == ""
	return res, nil
}

func roundTo(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// scaleCreate creates the topics that do not exist yet, batch at a time.
func scaleCreate(ctx context.Context, cl *kgo.Client, names []string, partitions int32, batch int, say func(string, ...any)) error {
	for i := 0; i < len(names); i += batch {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 120_000
		for _, n := range names[i:min(i+batch, len(names))] {
			t := kmsg.NewCreateTopicsRequestTopic()
			t.Topic, t.NumPartitions, t.ReplicationFactor = n, partitions, -1
			req.Topics = append(req.Topics, t)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return fmt.Errorf("create topics: %w", err)
		}
		for _, t := range resp.Topics {
			if err := kerr.ErrorForCode(t.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("create topic %s: %w", t.Topic, err)
			}
		}
		if (i/batch)%20 == 19 {
			say("created %d of %d topics", i+batch, len(names))
		}
	}
	return nil
}

// scaleMetadata times Metadata requests for all topics.
func scaleMetadata(ctx context.Context, cl *kgo.Client, cfg ScaleConfig, res *ScaleResult) error {
	var lat []int64
	for range cfg.MetadataRounds {
		req := kmsg.NewPtrMetadataRequest() // nil Topics: all of them
		start := time.Now()
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
		lat = append(lat, int64(time.Since(start)))
		n := 0
		for _, t := range resp.Topics {
			if t.Topic != nil && strings.HasPrefix(*t.Topic, cfg.Prefix+"-") {
				n += len(t.Partitions)
			}
		}
		res.MetadataPartitions = n
		res.MetadataBytes = len(resp.AppendTo(nil))
	}
	res.MetadataAll = summarize(lat)
	return nil
}

// scaleProduce sends cfg.Rate records a second for cfg.Duration, each to
// the next partition in turn, and waits for every acknowledgement.
func scaleProduce(ctx context.Context, cfg ScaleConfig, parts []scalePartition, res *ScaleResult, say func(string, ...any)) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID("sluice-bench-scale"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(cfg.Linger),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordRetries(20),
		kgo.MaxBufferedRecords(max(10000, int(cfg.Rate*4))))
	if err != nil {
		return err
	}
	defer cl.Close()
	value := make([]byte, cfg.RecordSize)
	for i := range value {
		value[i] = byte(i*7 + 3)
	}
	var (
		acked, errs atomic.Int64
		mu          sync.Mutex
		lat         []int64 // guarded by mu
	)
	const tick = 10 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var sent int64
	next := 0
	lastSay := start
	for now := start; now.Before(deadline); now = time.Now() {
		due := int64(cfg.Rate * now.Sub(start).Seconds())
		for ; sent < due; sent++ {
			p := parts[next]
			next = (next + 1) % len(parts)
			sentAt := time.Now()
			cl.Produce(ctx, &kgo.Record{Topic: p.topic, Partition: p.partition, Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					errs.Add(1)
					return
				}
				acked.Add(1)
				d := int64(time.Since(sentAt))
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			})
		}
		if now.Sub(lastSay) >= 5*time.Second {
			lastSay = now
			say("%s: sent %d, acked %d, errors %d", now.Sub(start).Truncate(time.Second), sent, acked.Load(), errs.Load())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	elapsed := time.Since(start)
	res.Records = acked.Load()
	res.ProduceErrors = errs.Load()
	res.Seconds = roundTo(elapsed.Seconds(), 3)
	res.RecordsPerS = math.Round(float64(res.Records) / elapsed.Seconds())
	mu.Lock()
	res.ProduceLatency = summarize(lat)
	mu.Unlock()
	return nil
}

// scaleFetch times Fetch requests (MaxWait 0) naming parts, each at its
// high watermark, so that nothing is returned: the cost of a caught-up
// consumer's poll.
func scaleFetch(ctx context.Context, cl *kgo.Client, cfg ScaleConfig, parts []scalePartition, res *ScaleResult) error {
	lo := kmsg.NewPtrListOffsetsRequest()
	byTopic := map[string]int{}
	for _, p := range parts {
		i, ok := byTopic[p.topic]
		if !ok {
			i = len(lo.Topics)
			byTopic[p.topic] = i
			lo.Topics = append(lo.Topics, kmsg.NewListOffsetsRequestTopic())
			lo.Topics[i].Topic = p.topic
		}
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition, lp.Timestamp = p.partition, -1
		lo.Topics[i].Partitions = append(lo.Topics[i].Partitions, lp)
	}
	shards := cl.RequestSharded(ctx, lo)
	fetch := kmsg.NewPtrFetchRequest()
	fetch.ReplicaID = -1
	fetch.MaxWaitMillis = 0
	fetch.MinBytes = 1
	fetch.MaxBytes = 50 << 20
	var broker int32 = -1
	for _, sh := range shards {
		if sh.Err != nil {
			return fmt.Errorf("list offsets: %w", sh.Err)
		}
		broker = sh.Meta.NodeID
		for _, t := range sh.Resp.(*kmsg.ListOffsetsResponse).Topics {
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = t.Topic
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return fmt.Errorf("list offsets %s/%d: %w", t.Topic, p.Partition, err)
				}
				fp := kmsg.NewFetchRequestTopicPartition()
				fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = p.Partition, p.Offset, 1<<20
				fp.CurrentLeaderEpoch, fp.LogStartOffset = -1, -1
				ft.Partitions = append(ft.Partitions, fp)
			}
			fetch.Topics = append(fetch.Topics, ft)
		}
	}
	// A Fetch goes to one broker; every Sluice agent serves every
	// partition, so the broker that answered the list is as good as any.
	br := cl.Broker(int(broker))
	var lat []int64
	for range cfg.FetchRounds {
		start := time.Now()
		resp, err := br.Request(ctx, fetch)
		if err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		lat = append(lat, int64(time.Since(start)))
		fr := resp.(*kmsg.FetchResponse)
		if err := kerr.ErrorForCode(fr.ErrorCode); err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		for _, t := range fr.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return fmt.Errorf("fetch %s/%d: %w", t.Topic, p.Partition, err)
				}
			}
		}
	}
	res.FetchCaughtUp = summarize(lat)
	res.FetchPartitions = len(parts)
	return nil
}

// sample is one line of a Prometheus text exposition.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

type samples []sample

func (ss samples) value(name string, labels map[string]string) float64 {
	for _, s := range ss {
		if s.name == name && matches(s.labels, labels) {
			return s.value
		}
	}
	return 0
}

func matches(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// scrape reads url's Prometheus text exposition (nil for an empty url).
func scrape(ctx context.Context, url string) (samples, error) {
	if url == "" {
		return nil, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	return parseExposition(resp.Body)
}

// parseExposition parses the sample lines of the Prometheus text format
// (comments and malformed lines are skipped).
func parseExposition(r io.Reader) (samples, error) {
	var out samples
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s := sample{labels: map[string]string{}}
		rest := line
		if i := strings.IndexAny(rest, "{ "); i < 0 {
			continue
		} else {
			s.name, rest = rest[:i], rest[i:]
		}
		if strings.HasPrefix(rest, "{") {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			for _, kv := range splitLabels(rest[1:end]) {
				k, v, ok := strings.Cut(kv, "=")
				if ok {
					if uq, err := strconv.Unquote(v); err == nil {
						s.labels[k] = uq
					}
				}
			}
			rest = rest[end+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		s.value = v
		out = append(out, s)
	}
	return out, sc.Err()
}

// splitLabels splits `a="x",b="y,z"` at the commas outside quotes.
func splitLabels(s string) []string {
	var out []string
	quoted, esc, from := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case esc:
			esc = false
		case c == '\\':
			esc = true
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			out = append(out, s[from:i])
			from = i + 1
		}
	}
	if from < len(s) {
		out = append(out, s[from:])
	}
	return out
}

// commitQuantiles is the commit latency histogram's growth between two
// scrapes, by partitions class, plus "all" from sluice_produce_commit_seconds.
func commitQuantiles(before, after samples) map[string]*Quantiles {
	out := map[string]*Quantiles{}
	for _, class := range []string{"1-9", "10-99", "100-999", "1000+"} {
		if q := histogramDelta(before, after, "sluice_produce_commit_by_partitions_seconds", map[string]string{"partitions": class}); q != nil {
			out[class] = q
		}
	}
	if q := histogramDelta(before, after, "sluice_produce_commit_seconds", nil); q != nil {
		out["all"] = q
	}
	return out
}

type bucket struct {
	le    float64
	count float64
}

func buckets(ss samples, name string, labels map[string]string) []bucket {
	var out []bucket
	for _, s := range ss {
		if s.name != name+"_bucket" || !matches(s.labels, labels) {
			continue
		}
		le, err := strconv.ParseFloat(s.labels["le"], 64)
		if err != nil {
			continue
		}
		out = append(out, bucket{le, s.value})
	}
	slices.SortFunc(out, func(a, b bucket) int { return cmpFloat(a.le, b.le) })
	return out
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// histogramDelta returns the quantiles of the observations a histogram
// gained between before and after (nil: none).
func histogramDelta(before, after samples, name string, labels map[string]string) *Quantiles {
	b, a := buckets(before, name, labels), buckets(after, name, labels)
	if len(a) == 0 {
		return nil
	}
	prev := map[float64]float64{}
	for _, x := range b {
		prev[x.le] = x.count
	}
	for i := range a {
		a[i].count -= prev[a[i].le]
	}
	total := a[len(a)-1].count
	if total <= 0 {
		return nil
	}
	sum := after.value(name+"_sum", labels) - before.value(name+"_sum", labels)
	return &Quantiles{
		Count: int64(total),
		P50:   roundTo(quantile(a, 0.50)*1000, 3),
		P99:   roundTo(quantile(a, 0.99)*1000, 3),
		Mean:  roundTo(sum/total*1000, 3),
	}
}

// quantile interpolates linearly within the bucket holding the q-th
// observation, like PromQL's histogram_quantile; a quantile in the +Inf
// bucket is the highest finite bound.
func quantile(bs []bucket, q float64) float64 {
	total := bs[len(bs)-1].count
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range bs {
		if b.count >= rank {
			if math.IsInf(b.le, 1) {
				return lower
			}
			in := b.count - below
			if in <= 0 {
				return b.le
			}
			return lower + (b.le-lower)*(rank-below)/in
		}
		lower, below = b.le, b.count
	}
	return lower
}
