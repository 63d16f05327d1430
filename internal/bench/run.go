package bench

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// poolSize is the size of the random block record bodies are cut from; a
// batch of records never repeats a byte run, so it does not compress.
const poolSize = 4 << 20

// producers is the state of one run's producers.
type producers struct {
	cfg   *Config
	run   uint32
	pool  []byte
	quota []int64 // records per producer (0: unlimited)

	sent    atomic.Int64 // records handed to a client
	acked   atomic.Int64
	errs    atomic.Int64
	firstEr atomic.Value // string

	mu   sync.Mutex
	lat  []int64  // ack latency, ns
	acks []uint64 // partition<<48 | offset of every ack
	// reqLat is every produce request's time from its first byte written
	// to its response read, ns, and reqWait its wait before that write
	// (see requestTimer).
	reqLat, reqWait []int64
	// perProducer counts records each producer handed over.
	perProducer []int64
}

func newProducers(cfg *Config) *producers {
	var seed [32]byte
	crand.Read(seed[:])
	rng := rand.New(rand.NewChaCha8(seed))
	pool := make([]byte, poolSize+cfg.RecordSize)
	for i := 0; i+8 <= len(pool); i += 8 {
		binary.LittleEndian.PutUint64(pool[i:], rng.Uint64())
	}
	p := &producers{cfg: cfg, run: rng.Uint32() | 1, pool: pool, perProducer: make([]int64, cfg.Producers)}
	p.quota = make([]int64, cfg.Producers)
	if cfg.Records > 0 {
		n := int64(cfg.Producers)
		for i := range p.quota {
			p.quota[i] = cfg.Records / n
			if int64(i) < cfg.Records%n {
				p.quota[i]++
			}
		}
	}
	return p
}

func (p *producers) opts() []kgo.Opt {
	c := p.cfg
	o := []kgo.Opt{
		kgo.DefaultProduceTopic(c.Topic),
		kgo.ProducerLinger(c.Linger),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordRetries(20),
		kgo.WithHooks(requestTimer{p}),
	}
	switch c.Acks {
	case "all", "-1":
		o = append(o, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		o = append(o, kgo.RequiredAcks(kgo.LeaderAck()))
	case "0":
		o = append(o, kgo.RequiredAcks(kgo.NoAck()))
	}
	if !c.Idempotent {
		o = append(o, kgo.DisableIdempotentWrite())
	}
	if c.MaxInFlight > 0 {
		o = append(o, kgo.MaxProduceRequestsInflightPerBroker(c.MaxInFlight))
	}
	if c.BatchMaxBytes > 0 {
		o = append(o, kgo.ProducerBatchMaxBytes(c.BatchMaxBytes))
	}
	return o
}

// requestTimer records how long each produce request took on the wire
// and in the broker: from the start of its write to the end of its
// response's read; and how long it waited in the client, once built,
// for that write (the connection's writer goroutine to run). A record's
// own latency (from its Produce call) adds the time it waited in the
// client before its request was written: for a batch to fill (linger),
// for a free in-flight slot, for the client's goroutines to be scheduled.
type requestTimer struct{ p *producers }

func (t requestTimer) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	if key != 0 || e.WriteErr != nil || e.ReadErr != nil { // 0: Produce
		return
	}
	t.p.mu.Lock()
	t.p.reqLat = append(t.p.reqLat, int64(e.DurationE2E()))
	t.p.reqWait = append(t.p.reqWait, int64(e.WriteWait))
	t.p.mu.Unlock()
}

// produce runs every producer until its quota, the deadline or ctx ends,
// then flushes. It returns when every record is acknowledged or failed.
func (p *producers) produce(ctx context.Context, deadline time.Time) error {
	clients := make([]*kgo.Client, p.cfg.Producers)
	for i := range clients {
		cl, err := p.cfg.client(p.opts()...)
		if err != nil {
			for _, c := range clients[:i] {
				c.Close()
			}
			return err
		}
		clients[i] = cl
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	var wg sync.WaitGroup
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.loop(ctx, i, cl, deadline)
		}()
	}
	wg.Wait()
	return nil
}

func (p *producers) loop(ctx context.Context, idx int, cl *kgo.Client, deadline time.Time) {
	c := p.cfg
	var interval time.Duration
	if c.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(c.Producers) / c.Rate)
	}
	lat := make([]int64, 0, 1024)
	acks := make([]uint64, 0, 1024)
	var mu sync.Mutex
	noAcks := c.Acks == "0"
	promise := func(r *kgo.Record, err error) {
		d := time.Now().UnixNano() - int64(binary.BigEndian.Uint64(r.Value[16:24]))
		if err != nil {
			if p.errs.Add(1) == 1 {
				p.firstEr.Store(err.Error())
			}
			return
		}
		p.acked.Add(1)
		mu.Lock()
		lat = append(lat, d)
		if !noAcks && r.Offset >= 0 { // lightning topics acknowledge without offsets
			acks = append(acks, uint64(r.Partition)<<48|uint64(r.Offset))
		}
		mu.Unlock()
	}
	start := time.Now()
	quota := p.quota[idx]
	off := (idx * 7919 * 1024) % poolSize
	var n int64
	for ; quota == 0 || n < quota; n++ {
		if ctx.Err() != nil || (!deadline.IsZero() && time.Now().After(deadline)) {
			break
		}
		if interval > 0 {
			if wait := time.Until(start.Add(time.Duration(n) * interval)); wait > 0 {
				time.Sleep(wait)
			}
		}
		v := make([]byte, c.RecordSize)
		binary.BigEndian.PutUint32(v[0:], p.run)
		binary.BigEndian.PutUint32(v[4:], uint32(idx))
		binary.BigEndian.PutUint64(v[8:], uint64(n))
		off += 8191
		if off > poolSize {
			off -= poolSize
		}
		copy(v[HeaderSize:], p.pool[off:])
		binary.BigEndian.PutUint64(v[16:], uint64(time.Now().UnixNano()))
		cl.Produce(ctx, &kgo.Record{Value: v}, promise)
		p.sent.Add(1)
	}
	if err := cl.Flush(ctx); err != nil && p.errs.Add(1) == 1 {
		p.firstEr.Store("flush: " + err.Error())
	}
	mu.Lock()
	defer mu.Unlock()
	p.mu.Lock()
	p.lat = append(p.lat, lat...)
	p.acks = append(p.acks, acks...)
	p.perProducer[idx] = n
	p.mu.Unlock()
}

// duplicateAcks counts acknowledgements that share a partition and offset.
func (p *producers) duplicateAcks() int64 {
	slices.Sort(p.acks)
	var d int64
	for i := 1; i < len(p.acks); i++ {
		if p.acks[i] == p.acks[i-1] {
			d++
		}
	}
	return d
}

func (p *producers) firstError() string {
	if s, ok := p.firstEr.Load().(string); ok {
		return s
	}
	return ""
}

func (c *Config) deadline(start time.Time) time.Time {
	if c.Duration > 0 {
		return start.Add(c.Duration)
	}
	return time.Time{}
}

func rateLine(what string, elapsed time.Duration, n int64, size int, last *int64) string {
	d := n - *last
	*last = n
	return fmt.Sprintf("%s %6s  %9d records  %8.2f MB/s  %8d records/s", what, elapsed, n, float64(d)*float64(size)/1e6, d)
}

// Produce writes records as fast as the producers can (or at Rate) and
// checks that every acknowledgement has its own partition and offset.
func Produce(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	parts, err := cfg.ensureTopic(ctx)
	if err != nil {
		return nil, err
	}
	p := newProducers(&cfg)
	res := cfg.result("produce", parts)
	stop := make(chan struct{})
	var last int64
	go progress(cfg.Progress, stop, func(e time.Duration) string {
		return rateLine("produce", e, p.acked.Load(), cfg.RecordSize, &last)
	})
	start := time.Now()
	err = p.produce(ctx, cfg.deadline(start))
	elapsed := time.Since(start)
	close(stop)
	if err != nil {
		return nil, err
	}
	res.Records = p.acked.Load()
	res.rates(res.Records*int64(cfg.RecordSize), elapsed)
	res.ProduceLatency = summarize(p.lat)
	res.ProduceRequestLatency = summarize(p.reqLat)
	res.ProduceRequestWait = summarize(p.reqWait)
	res.ProduceErrors = p.errs.Load()
	res.Duplicates = p.duplicateAcks()
	if res.ProduceErrors > 0 {
		res.Problem = "first error: " + p.firstError()
	}
	res.finish()
	return res, res.err()
}

func (c *Config) result(mode string, parts int32) *Result {
	r := &Result{Mode: mode, Topic: c.Topic, Partitions: parts, RecordSize: c.RecordSize}
	if mode != "consume" {
		r.Producers = c.Producers
		r.Acks = c.Acks
		r.Idempotent = c.Idempotent
		r.LingerMS = float64(c.Linger) / float64(time.Millisecond)
		r.TargetRate = c.Rate
	}
	return r
}

// tracker records which records a consumer saw.
type tracker struct {
	run     uint32 // 0: accept every run
	seen    map[uint64][]uint64
	maxCtr  map[uint64]uint64
	unique  int64
	dups    int64
	foreign int64
	other   int64 // records of other runs, ignored
	lat     []int64
	bytes   int64
}

func newTracker(run uint32) *tracker {
	return &tracker{run: run, seen: map[uint64][]uint64{}, maxCtr: map[uint64]uint64{}}
}

// add records one value; now is the receive time for latency (0: none).
func (t *tracker) add(v []byte, now int64) {
	if len(v) < HeaderSize {
		t.foreign++
		return
	}
	run := binary.BigEndian.Uint32(v[0:])
	if t.run != 0 && run != t.run {
		t.other++
		return
	}
	t.bytes += int64(len(v))
	key := uint64(run)<<32 | uint64(binary.BigEndian.Uint32(v[4:]))
	ctr := binary.BigEndian.Uint64(v[8:])
	if ctr > 1<<34 {
		t.foreign++
		return
	}
	bits := t.seen[key]
	w := int(ctr / 64)
	if w >= len(bits) {
		bits = append(bits, make([]uint64, w+1-len(bits)+len(bits)/2)...)
		t.seen[key] = bits
	}
	if bits[w]&(1<<(ctr%64)) != 0 {
		t.dups++
		return
	}
	bits[w] |= 1 << (ctr % 64)
	t.unique++
	if ctr > t.maxCtr[key] {
		t.maxCtr[key] = ctr
	}
	if now != 0 {
		t.lat = append(t.lat, now-int64(binary.BigEndian.Uint64(v[16:])))
	}
}

// gaps counts counters below each producer's highest one never seen.
func (t *tracker) gaps() int64 {
	var expect int64
	for _, m := range t.maxCtr {
		expect += int64(m) + 1
	}
	return expect - t.unique
}

// Consume reads the whole topic, from the start offsets to the end offsets
// it sees when it starts, and checks that every record is there once.
// With cfg.Records > 0 it also checks that exactly that many came back.
func Consume(ctx context.Context, cfg Config) (*Result, error) {
	if len(cfg.Brokers) == 0 || cfg.Topic == "" {
		return nil, fmt.Errorf("need brokers and a topic")
	}
	cl, err := cfg.client(kgo.ConsumeTopics(cfg.Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	parts, err := cfg.partitions(ctx, adm)
	if err != nil {
		return nil, err
	}
	starts, err := adm.ListStartOffsets(ctx, cfg.Topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, err
	}
	ends, err := adm.ListEndOffsets(ctx, cfg.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, err
	}
	remaining := map[int32]int64{}
	var want int64
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		if o.Offset > s.Offset {
			remaining[o.Partition] = o.Offset
			want += o.Offset - s.Offset
		}
	})
	res := cfg.result("consume", parts)
	t := newTracker(0)
	var count atomic.Int64
	stop := make(chan struct{})
	var last int64
	go progress(cfg.Progress, stop, func(e time.Duration) string {
		return rateLine("consume", e, count.Load(), cfg.RecordSize, &last)
	})
	start := time.Now()
	var n int64
	for len(remaining) > 0 {
		pctx, cancel := context.WithTimeout(ctx, cfg.drain())
		fetches := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			close(stop)
			return nil, ctx.Err()
		}
		if pctx.Err() != nil && fetches.NumRecords() == 0 {
			res.Problem = fmt.Sprintf("no records for %s with %d partitions unfinished", cfg.drain(), len(remaining))
			break
		}
		var ferr error
		fetches.EachError(func(tp string, p int32, err error) {
			if err != context.DeadlineExceeded {
				ferr = fmt.Errorf("%s[%d]: %w", tp, p, err)
			}
		})
		if ferr != nil {
			close(stop)
			return nil, ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			n++
			t.add(r.Value, 0)
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
		})
		count.Store(n)
	}
	elapsed := time.Since(start)
	close(stop)
	res.Records = n
	res.rates(t.bytes, elapsed)
	res.Duplicates = t.dups
	res.Foreign = t.foreign
	res.Missing = t.gaps() + max(0, want-n)
	if cfg.Records > 0 && t.unique != cfg.Records {
		res.Missing += max(0, cfg.Records-t.unique)
		if t.unique > cfg.Records {
			res.Problem = fmt.Sprintf("expected %d records, found %d distinct", cfg.Records, t.unique)
		}
	}
	res.finish()
	return res, res.err()
}

func (c *Config) drain() time.Duration {
	if c.Drain <= 0 {
		return 60 * time.Second
	}
	return c.Drain
}

// E2E produces (usually at a fixed Rate) while a consumer reads the topic,
// and measures the time from each record's send to its receipt.
func E2E(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	parts, err := cfg.ensureTopic(ctx)
	if err != nil {
		return nil, err
	}
	p := newProducers(&cfg)
	cl, err := cfg.client(kgo.ConsumeTopics(cfg.Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(time.Second))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	res := cfg.result("e2e", parts)
	t := newTracker(p.run)
	var got atomic.Int64
	produced := make(chan struct{})
	consumed := make(chan error, 1)
	go func() {
		var drainUntil time.Time
		for {
			select {
			case <-produced:
				if drainUntil.IsZero() {
					drainUntil = time.Now().Add(cfg.drain())
				}
				if t.unique+t.dups >= p.sent.Load() || time.Now().After(drainUntil) {
					consumed <- nil
					return
				}
			default:
			}
			pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			fetches := cl.PollFetches(pctx)
			cancel()
			if ctx.Err() != nil {
				consumed <- ctx.Err()
				return
			}
			now := time.Now().UnixNano()
			var ferr error
			fetches.EachError(func(tp string, pt int32, err error) {
				if err != context.DeadlineExceeded {
					ferr = fmt.Errorf("%s[%d]: %w", tp, pt, err)
				}
			})
			if ferr != nil {
				consumed <- ferr
				return
			}
			fetches.EachRecord(func(r *kgo.Record) { t.add(r.Value, now) })
			got.Store(t.unique)
		}
	}()
	stop := make(chan struct{})
	var last int64
	go progress(cfg.Progress, stop, func(e time.Duration) string {
		return rateLine("e2e", e, got.Load(), cfg.RecordSize, &last) + fmt.Sprintf("  (%d sent)", p.sent.Load())
	})
	start := time.Now()
	err = p.produce(ctx, cfg.deadline(start))
	close(produced)
	cerr := <-consumed
	elapsed := time.Since(start)
	close(stop)
	if err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, cerr
	}
	res.Records = t.unique
	res.rates(t.bytes, elapsed)
	res.ProduceLatency = summarize(p.lat)
	res.ProduceRequestLatency = summarize(p.reqLat)
	res.ProduceRequestWait = summarize(p.reqWait)
	res.E2ELatency = summarize(t.lat)
	res.ProduceErrors = p.errs.Load()
	res.Duplicates = t.dups + p.duplicateAcks()
	res.Foreign = t.foreign
	var sent int64
	for _, n := range p.perProducer {
		sent += n
	}
	res.Missing = sent - t.unique
	if res.ProduceErrors > 0 {
		res.Problem = "first error: " + p.firstError()
	}
	res.finish()
	return res, res.err()
}

// SplitBrokers splits a comma-separated broker list.
func SplitBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}
