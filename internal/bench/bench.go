// Package bench drives a Kafka-compatible cluster (a Sluice agent or any
// broker) with franz-go clients and measures throughput and latency.
//
// Every record carries a header that identifies it: bytes 0-3 a random run
// id, 4-7 the producer index, 8-15 the producer's record counter, 16-23 the
// send time in Unix nanoseconds; the rest of the value is random
// (incompressible) bytes. Consumers use the header to check that every
// record came back exactly once and to measure end-to-end latency.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// HeaderSize is the size of the identifying header at the start of every
// record value; --record-size may not be smaller.
const HeaderSize = 24

// Config is one benchmark run.
type Config struct {
	Brokers    []string
	Topic      string
	Partitions int32 // created with this many partitions when missing
	Producers  int
	RecordSize int
	// Records is how many records to produce (split over the producers);
	// with Duration > 0 producing stops at whichever comes first, and
	// Records 0 means no record limit.
	Records    int64
	Duration   time.Duration
	Linger     time.Duration
	Acks       string // all, 1 or 0
	Idempotent bool
	// Rate caps records per second over all producers (0: as fast as
	// possible).
	Rate float64
	// MaxInFlight is the client's max in-flight produce requests per broker
	// (0: the client default).
	MaxInFlight int
	// BatchMaxBytes is the client's maximum batch size (0: the default).
	BatchMaxBytes int32
	// Drain bounds how long a consumer waits for records still missing
	// after producing ends.
	Drain time.Duration
	// Progress receives one line a second while a run lasts (nil: none).
	Progress io.Writer
	// TopicType, if set, is the sluice.topic.type the topic is created
	// with (classic or lightning; an existing topic keeps its own).
	TopicType string
}

func (c *Config) check() error {
	if len(c.Brokers) == 0 {
		return errors.New("no brokers")
	}
	if c.Topic == "" {
		return errors.New("no topic")
	}
	if c.Producers <= 0 {
		c.Producers = 1
	}
	if c.RecordSize < HeaderSize {
		return fmt.Errorf("record size %d is below the %d-byte header", c.RecordSize, HeaderSize)
	}
	if c.Records <= 0 && c.Duration <= 0 {
		return errors.New("need --records or --duration")
	}
	switch c.Acks {
	case "all", "-1", "1", "0":
	default:
		return fmt.Errorf("acks must be all, 1 or 0, not %q", c.Acks)
	}
	if c.Idempotent && c.Acks != "all" && c.Acks != "-1" {
		return errors.New("idempotent producers need acks=all")
	}
	if c.Drain <= 0 {
		c.Drain = 60 * time.Second
	}
	return nil
}

// Latency summarises a latency distribution in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

// summarize sorts d (nanoseconds) and returns its percentiles.
func summarize(d []int64) *Latency {
	if len(d) == 0 {
		return nil
	}
	slices.Sort(d)
	ms := func(ns int64) float64 { return math.Round(float64(ns)/1e3) / 1e3 }
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(d)))) - 1
		return ms(d[max(0, min(i, len(d)-1))])
	}
	var sum float64
	for _, v := range d {
		sum += float64(v)
	}
	return &Latency{
		Count: int64(len(d)), P50: at(0.50), P90: at(0.90), P99: at(0.99), P999: at(0.999),
		Max: ms(d[len(d)-1]), Mean: math.Round(sum/float64(len(d))/1e3) / 1e3,
	}
}

// Result is everything a run measured; it is printed as one JSON line.
type Result struct {
	Mode       string  `json:"mode"`
	Topic      string  `json:"topic"`
	Partitions int32   `json:"partitions"`
	Producers  int     `json:"producers,omitempty"`
	RecordSize int     `json:"record_size"`
	Acks       string  `json:"acks,omitempty"`
	Idempotent bool    `json:"idempotent,omitempty"`
	LingerMS   float64 `json:"linger_ms,omitempty"`
	TargetRate float64 `json:"target_rate,omitempty"`

	Records     int64   `json:"records"`
	Bytes       int64   `json:"bytes"`
	Seconds     float64 `json:"seconds"`
	MBPerSec    float64 `json:"mb_per_s"` // 10^6 bytes of record values per second
	RecordsPerS float64 `json:"records_per_s"`

	// ProduceLatency is per record, from its Produce call to its
	// acknowledgement: what the application sees.
	ProduceLatency *Latency `json:"produce_latency,omitempty"`
	// ProduceRequestLatency is per produce request, from the start of
	// its write to the end of its response's read: the broker's share.
	// ProduceLatency minus this is the records' wait in the client.
	ProduceRequestLatency *Latency `json:"produce_request_latency,omitempty"`
	// ProduceRequestWait is per produce request, from its creation in
	// the client to the start of its write.
	ProduceRequestWait *Latency `json:"produce_request_write_wait,omitempty"`
	E2ELatency         *Latency `json:"e2e_latency,omitempty"`

	// Checks: all must be zero for OK.
	ProduceErrors int64  `json:"produce_errors"`
	Duplicates    int64  `json:"duplicates"`
	Missing       int64  `json:"missing"`
	Foreign       int64  `json:"foreign"` // records without a recognisable header
	OK            bool   `json:"ok"`
	Problem       string `json:"problem,omitempty"`
}

func (r *Result) rates(bytes int64, elapsed time.Duration) {
	r.Bytes = bytes
	r.Seconds = math.Round(elapsed.Seconds()*1000) / 1000
	if s := elapsed.Seconds(); s > 0 {
		r.MBPerSec = math.Round(float64(bytes)/s/1e6*100) / 100
		r.RecordsPerS = math.Round(float64(r.Records) / s)
	}
}

func (r *Result) finish() {
	var p []string
	if r.ProduceErrors > 0 {
		p = append(p, fmt.Sprintf("%d produce errors", r.ProduceErrors))
	}
	if r.Duplicates > 0 {
		p = append(p, fmt.Sprintf("%d duplicates", r.Duplicates))
	}
	if r.Missing > 0 {
		p = append(p, fmt.Sprintf("%d missing", r.Missing))
	}
	if r.Foreign > 0 {
		p = append(p, fmt.Sprintf("%d records without a bench header", r.Foreign))
	}
	if r.Problem != "" {
		p = append([]string{r.Problem}, p...)
	}
	r.Problem = strings.Join(p, "; ")
	r.OK = r.Problem == ""
}

// ErrCheck is returned (wrapped) when a run's exactly-once check failed.
var ErrCheck = errors.New("bench: records were lost, duplicated or failed")

func (r *Result) err() error {
	if r.OK {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrCheck, r.Problem)
}

func (c *Config) client(opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.ClientID("sluice-bench")}
	return kgo.NewClient(append(base, opts...)...)
}

// ensureTopic creates the topic when it does not exist and returns its
// partition count.
func (c *Config) ensureTopic(ctx context.Context) (int32, error) {
	cl, err := c.client()
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	parts := c.Partitions
	if parts <= 0 {
		parts = -1
	}
	var configs map[string]*string
	if c.TopicType != "" {
		configs = map[string]*string{"sluice.topic.type": &c.TopicType}
	}
	res, err := adm.CreateTopic(ctx, parts, -1, configs, c.Topic)
	if err == nil {
		err = res.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, fmt.Errorf("create topic %s: %w", c.Topic, err)
	}
	return c.partitions(ctx, adm)
}

func (c *Config) partitions(ctx context.Context, adm *kadm.Client) (int32, error) {
	// Metadata may lag a fresh CreateTopics for a moment.
	for i := 0; ; i++ {
		td, err := adm.ListTopics(ctx, c.Topic)
		if err == nil {
			if t, ok := td[c.Topic]; ok && t.Err == nil && len(t.Partitions) > 0 {
				return int32(len(t.Partitions)), nil
			}
		}
		if i == 50 {
			return 0, fmt.Errorf("topic %s not visible: %v", c.Topic, err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// progress prints a line a second from report until stop is closed.
func progress(w io.Writer, stop <-chan struct{}, report func(elapsed time.Duration) string) {
	if w == nil {
		return
	}
	start := time.Now()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			fmt.Fprintln(w, report(time.Since(start).Truncate(time.Second)))
		}
	}
}
