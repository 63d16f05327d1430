package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/test/chaos/history"
)

// workload runs the clients. Every client records into h; errors a client
// sees (which faults make normal) are counted, not fatal.
type workload struct {
	h          *history.History
	seeds      []string
	topic      string
	partitions int32
	// sendGap paces each producer (a send every sendGap).
	sendGap time.Duration
	logf    func(format string, args ...any)
	// out is the run's log directory: the final drains write their
	// clients' debug logs there.
	out string

	mu         sync.Mutex // guards clientErrs
	clientErrs map[string]int

	// net counts the requests every client wrote and those whose write
	// or read failed (a timeout, a reset, a closed connection: what a
	// partition looks like to a client, which then retries).
	net netHook
}

// netHook is a franz-go hook counting requests and connection-level
// failures.
type netHook struct {
	requests, failed atomic.Int64
}

func (h *netHook) OnBrokerE2E(_ kgo.BrokerMetadata, _ int16, e kgo.BrokerE2E) {
	h.requests.Add(1)
	if e.Err() != nil {
		h.failed.Add(1)
	}
}

func (w *workload) clientErr(who string, err error) {
	w.mu.Lock()
	w.clientErrs[who]++
	n := w.clientErrs[who]
	w.mu.Unlock()
	if n <= 3 || n%100 == 0 {
		w.logf("%s: error #%d: %v", who, n, err)
	}
}

func (w *workload) tp(p int32) history.TP { return history.TP{Topic: w.topic, Partition: p} }

func (w *workload) base(name string) []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(w.seeds...), kgo.ClientID(name),
		kgo.RetryTimeout(30 * time.Second), kgo.RequestTimeoutOverhead(10 * time.Second), kgo.WithHooks(&w.net)}
}

// sleep waits d or until ctx is done; false when ctx is done.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// producer sends unique values round-robin over the partitions until ctx
// ends, then waits (bounded) for the answers to what it sent. kind is
// Idempotent (franz-go's default) or NonIdempotent (idempotence off,
// retries on).
func (w *workload) producer(ctx context.Context, name string, kind history.ProducerKind) {
	w.h.Producer(name, kind)
	opts := append(w.base(name), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5*time.Millisecond), kgo.RecordDeliveryTimeout(40*time.Second))
	if kind == history.NonIdempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		w.clientErr(name, err)
		return
	}
	defer cl.Close()
	sem := make(chan struct{}, 64) // sends in flight
	var inflight sync.WaitGroup
	for i := 0; ; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		tp := w.tp(int32(i) % w.partitions)
		v := fmt.Sprintf("%s-%d", name, i)
		w.h.Send(name, "", tp, v)
		inflight.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Topic: tp.Topic, Partition: tp.Partition, Value: []byte(v)},
			func(r *kgo.Record, err error) {
				if err == nil {
					w.h.Ack(v, tp, r.Offset)
				} else {
					w.h.Fail(v, err)
				}
				<-sem
				inflight.Done()
			})
		if !sleep(ctx, w.sendGap) {
			break
		}
	}
	fctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.Flush(fctx); err != nil {
		w.clientErr(name, fmt.Errorf("final flush: %w", err))
	}
	cl.Close() // fails whatever is left; every callback has run after Close
	inflight.Wait()
}

// txnProducer writes transactions of one to four values to random
// partitions, commits four in five and aborts the rest. Every transaction
// also commits an offset (its number) for group offsetsGroup on partition
// offsetPart through AddOffsetsToTxn/TxnOffsetCommit, so an aborted
// transaction's offset can be looked for afterwards.
func (w *workload) txnProducer(ctx context.Context, name, offsetsGroup string, offsetPart int32, adm *kadm.Client) {
	w.h.Producer(name, history.Transactional)
	newClient := func() *kgo.Client {
		cl, err := kgo.NewClient(append(w.base(name), kgo.TransactionalID(name),
			kgo.TransactionTimeout(10*time.Second), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.RecordDeliveryTimeout(30*time.Second))...)
		if err != nil {
			w.clientErr(name, err)
			return nil
		}
		return cl
	}
	cl := newClient()
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for n := 0; ctx.Err() == nil; n++ {
		if cl == nil {
			if !sleep(ctx, time.Second) {
				return
			}
			cl = newClient()
			continue
		}
		txn := fmt.Sprintf("%s-t%d", name, n)
		if err := cl.BeginTransaction(); err != nil {
			w.clientErr(name, fmt.Errorf("begin: %w", err))
			cl.Close()
			cl = newClient()
			continue
		}
		var failed atomic.Bool
		var wg sync.WaitGroup
		for j := 0; j < 1+rand.IntN(4); j++ {
			tp := w.tp(rand.Int32N(w.partitions))
			v := fmt.Sprintf("%s-%d-%d", name, n, j)
			w.h.Send(name, txn, tp, v)
			wg.Add(1)
			cl.Produce(context.Background(), &kgo.Record{Topic: tp.Topic, Partition: tp.Partition, Value: []byte(v)},
				func(r *kgo.Record, err error) {
					if err == nil {
						w.h.Ack(v, tp, r.Offset)
					} else {
						w.h.Fail(v, err)
						failed.Store(true)
					}
					wg.Done()
				})
		}
		fctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		ferr := cl.Flush(fctx)
		cancel()
		wg.Wait()
		if ferr == nil && !failed.Load() {
			if err := w.txnOffsetCommit(ctx, cl, name, txn, offsetsGroup, w.tp(offsetPart), int64(n)); err != nil {
				w.clientErr(name, fmt.Errorf("txn offset commit: %w", err))
			}
		}
		commit := ferr == nil && !failed.Load() && rand.IntN(5) != 0
		try := kgo.TryAbort
		if commit {
			try = kgo.TryCommit
		}
		ectx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := cl.EndTransaction(ectx, try)
		cancel()
		switch {
		case err == nil && commit:
			w.h.EndTxn(name, txn, history.Committed, nil)
		case !commit:
			// Only a commit request can commit: an abort that failed
			// still ends aborted (by the coordinator or the timeout).
			w.h.EndTxn(name, txn, history.Aborted, err)
		default:
			w.h.EndTxn(name, txn, history.Unknown, err)
		}
		if err != nil {
			w.clientErr(name, fmt.Errorf("end %s: %w", txn, err))
			cl.Close()
			cl = newClient()
			continue
		}
		if !commit {
			w.fetchOffsets(ctx, adm, offsetsGroup)
		}
		if ferr != nil || failed.Load() {
			sleep(ctx, 200*time.Millisecond) // the cluster is failing: do not spin
		}
	}
}

// txnOffsetCommit adds group to cl's open transaction and commits offset
// for tp in it, with raw requests (franz-go does this only inside a
// GroupTransactSession). It records the commit before sending it.
func (w *workload) txnOffsetCommit(ctx context.Context, cl *kgo.Client, name, txn, group string, tp history.TP, offset int64) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	pid, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		return err
	}
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = name, pid, epoch, group
	aresp, err := add.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if aresp.ErrorCode != 0 {
		return fmt.Errorf("AddOffsetsToTxn: error code %d", aresp.ErrorCode)
	}
	w.h.Commit(group, txn, tp, offset)
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch, req.Generation = name, group, pid, epoch, -1
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = tp.Topic
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = tp.Partition, offset, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				return fmt.Errorf("TxnOffsetCommit: error code %d", p.ErrorCode)
			}
		}
	}
	return nil
}

// fetchOffsets reads group's committed offsets back into the history.
func (w *workload) fetchOffsets(ctx context.Context, adm *kadm.Client, group string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resps, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		w.clientErr("offsets-"+group, err)
		return
	}
	resps.Each(func(r kadm.OffsetResponse) {
		if r.Err == nil {
			w.h.Fetched(group, history.TP{Topic: r.Topic, Partition: r.Partition}, r.At)
		}
	})
}

// records turns a poll's fetches into history records, counting errors.
func (w *workload) records(name string, fs kgo.Fetches) []history.Record {
	fs.EachError(func(topic string, p int32, err error) {
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			w.clientErr(name, fmt.Errorf("fetch %s/%d: %w", topic, p, err))
		}
	})
	var out []history.Record
	fs.EachRecord(func(r *kgo.Record) {
		out = append(out, history.Record{TP: history.TP{Topic: r.Topic, Partition: r.Partition}, Offset: r.Offset, Value: string(r.Value)})
	})
	return out
}

func isolation(readCommitted bool) kgo.IsolationLevel {
	if readCommitted {
		return kgo.ReadCommitted()
	}
	return kgo.ReadUncommitted()
}

// assignConsumer reads every partition from offset 0 until ctx ends.
func (w *workload) assignConsumer(ctx context.Context, name string, readCommitted bool) {
	w.h.Consumer(name, history.ConsumerInfo{ReadCommitted: readCommitted})
	parts := map[int32]kgo.Offset{}
	for p := int32(0); p < w.partitions; p++ {
		parts[p] = kgo.NewOffset().At(0)
	}
	cl, err := kgo.NewClient(append(w.base(name), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{w.topic: parts}),
		kgo.FetchIsolationLevel(isolation(readCommitted)), kgo.FetchMaxWait(time.Second))...)
	if err != nil {
		w.clientErr(name, err)
		return
	}
	defer cl.Close()
	for p := int32(0); p < w.partitions; p++ {
		w.h.Assign(name, w.tp(p), 0)
	}
	for ctx.Err() == nil {
		w.h.Poll(name, "", w.records(name, cl.PollFetches(ctx)))
	}
}

// groupConsumer is a member of a consumer group (classic, or KIP-848 when
// kip848) that commits what it read after every poll. Rebalances happen
// only between polls (BlockRebalanceOnPoll), and each assignment change is
// recorded, so the checker knows where a member's reads restart.
func (w *workload) groupConsumer(ctx context.Context, name, group string, readCommitted, kip848 bool) {
	w.h.Consumer(name, history.ConsumerInfo{ReadCommitted: readCommitted, Group: group})
	record := func(assigned bool) func(context.Context, *kgo.Client, map[string][]int32) {
		return func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			for topic, ps := range m {
				for _, p := range ps {
					tp := history.TP{Topic: topic, Partition: p}
					if assigned {
						w.h.Assign(name, tp, -1)
					} else {
						w.h.Revoke(name, tp)
					}
				}
			}
		}
	}
	opts := append(w.base(name), kgo.ConsumerGroup(group), kgo.ConsumeTopics(w.topic),
		kgo.FetchIsolationLevel(isolation(readCommitted)), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(), kgo.FetchMaxWait(time.Second),
		kgo.OnPartitionsAssigned(record(true)), kgo.OnPartitionsRevoked(record(false)), kgo.OnPartitionsLost(record(false)))
	if kip848 {
		opts = append(opts, kgo.ServerSideBalancer())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		w.clientErr(name, err)
		return
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cl.LeaveGroupContext(cctx)
		cl.Close()
	}()
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		recs := w.records(name, fs)
		w.h.Poll(name, "", recs)
		if len(recs) > 0 {
			next := map[history.TP]int64{}
			for _, r := range recs {
				next[r.TP] = r.Offset + 1
			}
			for tp, off := range next {
				w.h.Commit(group, "", tp, off)
			}
			cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			if err := cl.CommitUncommittedOffsets(cctx); err != nil && ctx.Err() == nil {
				w.clientErr(name, fmt.Errorf("commit: %w", err))
			}
			cancel()
		}
		cl.AllowRebalance()
	}
}

// pipe is a consume-transform-produce loop in a GroupTransactSession: it
// reads the topic at read_committed in group, writes one value per ten
// values read (ignoring its own) back to the topic, and commits its
// offsets in the same transaction; one transaction in five aborts. Its
// reads give write-read dependencies between transactions.
func (w *workload) pipe(ctx context.Context, name, group string, adm *kadm.Client) {
	w.h.Producer(name, history.Transactional)
	w.h.Consumer(name, history.ConsumerInfo{ReadCommitted: true, Group: group})
	record := func(assigned bool) func(context.Context, *kgo.Client, map[string][]int32) {
		return func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			for topic, ps := range m {
				for _, p := range ps {
					tp := history.TP{Topic: topic, Partition: p}
					if assigned {
						w.h.Assign(name, tp, -1)
					} else {
						w.h.Revoke(name, tp)
					}
				}
			}
		}
	}
	newSession := func() *kgo.GroupTransactSession {
		s, err := kgo.NewGroupTransactSession(append(w.base(name), kgo.TransactionalID(name),
			kgo.TransactionTimeout(10*time.Second), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.RecordDeliveryTimeout(30*time.Second), kgo.ConsumerGroup(group), kgo.ConsumeTopics(w.topic),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.RequireStableFetchOffsets(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(time.Second),
			kgo.OnPartitionsAssigned(record(true)), kgo.OnPartitionsRevoked(record(false)), kgo.OnPartitionsLost(record(false)))...)
		if err != nil {
			w.clientErr(name, err)
			return nil
		}
		return s
	}
	sess := newSession()
	defer func() {
		if sess != nil {
			sess.Close()
		}
	}()
	rewind := func() {
		// After an abort the session seeks back to the committed
		// offsets: reads restart there, as after a reassignment.
		for p := int32(0); p < w.partitions; p++ {
			w.h.Assign(name, w.tp(p), -1)
		}
	}
	for n := 0; ctx.Err() == nil; n++ {
		if sess == nil {
			if !sleep(ctx, time.Second) {
				return
			}
			sess = newSession()
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		fs := sess.PollFetches(pctx)
		cancel()
		if fs.IsClientClosed() {
			return
		}
		txn := fmt.Sprintf("%s-t%d", name, n)
		recs := w.records(name, fs)
		if len(recs) == 0 {
			continue
		}
		w.h.Poll(name, txn, recs)
		if err := sess.Begin(); err != nil {
			w.clientErr(name, fmt.Errorf("begin: %w", err))
			sess.Close()
			sess = newSession()
			rewind()
			continue
		}
		var wg sync.WaitGroup
		k := 0
		for i, r := range recs {
			if strings.HasPrefix(r.Value, name+"-") || i%10 != 0 {
				continue
			}
			tp := w.tp(rand.Int32N(w.partitions))
			v := fmt.Sprintf("%s-%d-%d", name, n, k)
			k++
			w.h.Send(name, txn, tp, v)
			wg.Add(1)
			sess.Produce(context.Background(), &kgo.Record{Topic: tp.Topic, Partition: tp.Partition, Value: []byte(v)},
				func(r *kgo.Record, err error) {
					if err == nil {
						w.h.Ack(v, tp, r.Offset)
					} else {
						w.h.Fail(v, err)
					}
					wg.Done()
				})
		}
		commit := rand.IntN(5) != 0
		try := kgo.TryAbort
		if commit {
			try = kgo.TryCommit
			for topic, ps := range sess.Client().UncommittedOffsets() {
				for p, eo := range ps {
					w.h.Commit(group, txn, history.TP{Topic: topic, Partition: p}, eo.Offset)
				}
			}
		}
		ectx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		committed, err := sess.End(ectx, try)
		cancel()
		wg.Wait()
		switch {
		case err == nil && committed:
			w.h.EndTxn(name, txn, history.Committed, nil)
		case err == nil || !commit:
			w.h.EndTxn(name, txn, history.Aborted, err)
		default:
			w.h.EndTxn(name, txn, history.Unknown, err)
		}
		if !committed {
			rewind()
			w.fetchOffsets(ctx, adm, group)
		}
		if err != nil {
			w.clientErr(name, fmt.Errorf("end %s: %w", txn, err))
			sess.Close()
			sess = newSession()
		}
	}
}

// probe asks every agent directly, with one Fetch of its own, for the
// partitions a drain stopped short in, from the offset after the last it
// read, and logs each answer: whether the agents serve the data the
// consumer did not get.
func (w *workload) probe(ctx context.Context, name string, readCommitted bool, read map[history.TP]int64) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.seeds...), kgo.ClientID(name+"-probe"))
	if err != nil {
		return
	}
	defer cl.Close()
	from := func(p int32) int64 {
		if r, ok := read[w.tp(p)]; ok {
			return r + 1
		}
		return 0
	}
	for _, seed := range w.seeds {
		req := kmsg.NewPtrMetadataRequest()
		mresp, err := req.RequestWith(ctx, cl)
		if err != nil {
			w.logf("%s probe: metadata: %v", name, err)
			return
		}
		var node int32 = -1
		for _, b := range mresp.Brokers {
			if net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))) == seed {
				node = b.NodeID
			}
		}
		w.logf("%s probe: metadata lists %d agents, %s is node %d", name, len(mresp.Brokers), seed, node)
		if node < 0 {
			continue
		}
		var topicID [16]byte
		for _, t := range mresp.Topics {
			if t.Topic != nil && *t.Topic == w.topic {
				topicID = t.TopicID
			}
		}
		f := kmsg.NewPtrFetchRequest()
		f.MaxWaitMillis, f.MinBytes, f.MaxBytes = 500, 1, 50<<20
		if readCommitted {
			f.IsolationLevel = 1
		}
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic, ft.TopicID = w.topic, topicID
		for p := int32(0); p < w.partitions; p++ {
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = p, from(p), 1<<20
			fp.CurrentLeaderEpoch, fp.LogStartOffset = -1, -1
			ft.Partitions = append(ft.Partitions, fp)
		}
		f.Topics = append(f.Topics, ft)
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		start := time.Now()
		fresp, err := f.RequestWith(pctx, cl.Broker(int(node)))
		cancel()
		if err != nil {
			w.logf("%s probe: fetch from node %d: %v after %v", name, node, err, time.Since(start))
			continue
		}
		for _, t := range fresp.Topics {
			for _, p := range t.Partitions {
				w.logf("%s probe: node %d partition %d from %d: error %d, high watermark %d, %d bytes, in %v",
					name, node, p.Partition, from(p.Partition), p.ErrorCode, p.HighWatermark, len(p.RecordBatches), time.Since(start))
			}
		}
	}
}

// offsetWatcher reads the groups' committed offsets every second.
func (w *workload) offsetWatcher(ctx context.Context, adm *kadm.Client, groups ...string) {
	for sleep(ctx, time.Second) {
		for _, g := range groups {
			w.fetchOffsets(ctx, adm, g)
		}
	}
}

// drain reads every partition from offset 0 with a fresh consumer until
// it has read, in every partition, the last offset the history knows to
// hold a write it must see (or, bounded by ctx, has been idle for idle
// after that could not be reached): the final read that makes every
// acknowledged write either seen or lost.
func (w *workload) drain(ctx context.Context, name string, readCommitted bool, idle time.Duration) {
	target := history.LastOffsets(w.h, readCommitted)
	w.h.Consumer(name, history.ConsumerInfo{ReadCommitted: readCommitted})
	parts := map[int32]kgo.Offset{}
	for p := int32(0); p < w.partitions; p++ {
		parts[p] = kgo.NewOffset().At(0)
		w.h.Assign(name, w.tp(p), 0)
	}
	opts := append(w.base(name), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{w.topic: parts}),
		kgo.FetchIsolationLevel(isolation(readCommitted)), kgo.FetchMaxWait(500*time.Millisecond))
	// The client's own account of every request, to explain a drain that
	// stops short (the agents log only failures).
	if w.out != "" {
		if lf, err := os.Create(filepath.Join(w.out, name+"-client.log")); err == nil {
			defer lf.Close()
			opts = append(opts, kgo.WithLogger(kgo.BasicLogger(lf, kgo.LogLevelDebug, nil)))
		}
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		w.clientErr(name, err)
		return
	}
	defer cl.Close()
	read := map[history.TP]int64{}
	done := func() bool {
		for tp, off := range target {
			if r, ok := read[tp]; !ok || r < off {
				return false
			}
		}
		return true
	}
	last := time.Now()
	for ctx.Err() == nil && !done() {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		recs := w.records(name, cl.PollFetches(pctx))
		cancel()
		if len(recs) > 0 {
			w.h.Poll(name, "", recs)
			for _, r := range recs {
				read[r.TP] = max(read[r.TP], r.Offset)
			}
			last = time.Now()
		} else if time.Since(last) > idle {
			w.logf("%s: idle for %v short of the known ends (read %v, known %v)", name, idle, read, target)
			w.probe(ctx, name, readCommitted, read)
			return
		}
	}
}
