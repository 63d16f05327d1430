package agent

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/sluicehq/sluice/internal/metadata"
)

// TestTransactionsThroughLostCommits runs a franz-go transactional
// producer while every third file commit (data and markers alike) reports
// a failure after committing: data retries must be answered as duplicates,
// EndTxn must complete by rewriting markers, and a read_committed consumer
// must see every committed record exactly once and nothing aborted.
func TestTransactionsThroughLostCommits(t *testing.T) {
	store := &lostAckStore{every: 3}
	a := startTestAgent(t, func(s metadata.Store) metadata.Store { store.Store = s; return store })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	const topic = "txn-lost"
	opts := []kgo.Opt{kgo.SeedBrokers(a.KafkaAddr()), kgo.MetadataMinAge(50 * time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond })}
	admCl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	p, err := kgo.NewClient(append(opts, kgo.TransactionalID("lost-acks"), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	committed := map[string]bool{}
	const txns, perTxn = 12, 9
	for i := 0; i < txns; i++ {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var vals []string
		for j := 0; j < perTxn; j++ {
			v := fmt.Sprintf("t%02d-%d", i, j)
			if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", v, err)
			}
			vals = append(vals, v)
		}
		commit := i%4 != 3
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end transaction %d: %v", i, err)
		}
		if commit {
			for _, v := range vals {
				committed[v] = true
			}
		}
	}
	if store.lost.Load() == 0 {
		t.Fatal("no commit acknowledgement was lost; the test proved nothing")
	}

	cons, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[string]bool{}
	quiet := time.Time{}
	for {
		if len(seen) >= len(committed) && quiet.IsZero() {
			quiet = time.Now().Add(time.Second)
		}
		if !quiet.IsZero() && time.Now().After(quiet) {
			break
		}
		pctx, pcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		fs := cons.PollFetches(pctx)
		pcancel()
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d committed records: %v", len(seen), len(committed), ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			if seen[v] {
				t.Errorf("%s read twice", v)
			}
			if !committed[v] {
				t.Errorf("%s read but not committed", v)
			}
			seen[v] = true
		})
	}
	if len(seen) != len(committed) {
		t.Fatalf("read %d records, %d committed", len(seen), len(committed))
	}
	t.Logf("%d committed records exactly once through %d lost commit acknowledgements", len(seen), store.lost.Load())
}

// TestTransactionBadInput sends the transaction APIs requests a broken or
// malicious client might, and checks each gets the error a Kafka broker
// sends and changes nothing.
func TestTransactionBadInput(t *testing.T) {
	a := startTestAgent(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The pre-KIP-890 protocol: TxnOffsetCommit v5 (transactions version
	// 2) adds the group to the transaction itself, which is tested in
	// internal/kafka's txn_v2_test.go.
	versions := kversion.Tip()
	versions.SetMaxKeyVersion(28, 4) // TxnOffsetCommit
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr()), kgo.MaxVersions(versions))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "bad"); err != nil {
		t.Fatal(err)
	}
	check := func(what string, got int16, want error) {
		t.Helper()
		code := int16(0)
		if want != nil {
			code = want.(*kerr.Error).Code
		}
		if got != code {
			t.Errorf("%s: error code %d (%v), want %v", what, got, kerr.ErrorForCode(got), want)
		}
	}

	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID = kmsg.StringPtr("bad-txn")
	init.TransactionTimeoutMillis = 0
	initResp, err := init.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	check("InitProducerId timeout 0", initResp.ErrorCode, kerr.InvalidTransactionTimeout)
	init.TransactionTimeoutMillis = 60 * 60 * 1000
	initResp, _ = init.RequestWith(ctx, cl)
	check("InitProducerId timeout above the maximum", initResp.ErrorCode, kerr.InvalidTransactionTimeout)
	init.TransactionTimeoutMillis = 60000
	initResp, _ = init.RequestWith(ctx, cl)
	check("InitProducerId", initResp.ErrorCode, nil)
	pid, epoch := initResp.ProducerID, initResp.ProducerEpoch

	addParts := func(id string, pid int64, epoch int16, topics map[string][]int32) *kmsg.AddPartitionsToTxnResponse {
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
		for topic, ps := range topics {
			rt := kmsg.NewAddPartitionsToTxnRequestTopic()
			rt.Topic, rt.Partitions = topic, ps
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	codes := func(resp *kmsg.AddPartitionsToTxnResponse) map[string]int16 {
		out := map[string]int16{}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				out[fmt.Sprintf("%s/%d", rt.Topic, rp.Partition)] = rp.ErrorCode
			}
		}
		return out
	}
	c := codes(addParts("bad-txn", pid, epoch, map[string][]int32{"bad": {0, 7}, "nope": {0}}))
	check("AddPartitionsToTxn valid partition beside unknown ones", c["bad/0"], kerr.OperationNotAttempted)
	check("AddPartitionsToTxn partition past the end", c["bad/7"], kerr.UnknownTopicOrPartition)
	check("AddPartitionsToTxn unknown topic", c["nope/0"], kerr.UnknownTopicOrPartition)
	check("AddPartitionsToTxn wrong producer id", codes(addParts("bad-txn", pid+1, epoch, map[string][]int32{"bad": {0}}))["bad/0"], kerr.InvalidProducerIDMapping)
	check("AddPartitionsToTxn wrong epoch", codes(addParts("bad-txn", pid, epoch+1, map[string][]int32{"bad": {0}}))["bad/0"], kerr.ProducerFenced)
	check("AddPartitionsToTxn unknown transactional id", codes(addParts("never-initialised", pid, epoch, map[string][]int32{"bad": {0}}))["bad/0"], kerr.InvalidProducerIDMapping)

	// Nothing above started a transaction.
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = "bad-txn", pid, epoch, true
	endResp, err := end.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	check("EndTxn with no transaction ongoing", endResp.ErrorCode, kerr.InvalidTxnState)

	addOffs := kmsg.NewPtrAddOffsetsToTxnRequest()
	addOffs.TransactionalID, addOffs.ProducerID, addOffs.ProducerEpoch, addOffs.Group = "bad-txn", pid, epoch, ""
	aoResp, err := addOffs.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	check("AddOffsetsToTxn empty group", aoResp.ErrorCode, kerr.InvalidGroupID)

	txnCommit := func(group, topic string, member ...string) int16 {
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = "bad-txn", group, pid, epoch
		if len(member) > 0 {
			req.MemberID, req.Generation = member[0], 1
		}
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Offset = 5
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	check("TxnOffsetCommit without AddOffsetsToTxn", txnCommit("g", "bad"), kerr.InvalidTxnState)
	check("TxnOffsetCommit unknown topic", txnCommit("g", "nope"), kerr.UnknownTopicOrPartition)
	check("TxnOffsetCommit v3 from a member the group does not know", txnCommit("g", "bad", "ghost"), kerr.UnknownMemberID)
	if offs, err := kadm.NewClient(cl).FetchOffsets(ctx, "g"); err == nil {
		if o, ok := offs.Lookup("bad", 0); ok && o.At >= 0 {
			t.Errorf("refused TxnOffsetCommit committed %+v", o)
		}
	}

	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorType, fc.CoordinatorKeys = 1, []string{""}
	fcResp, err := fc.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	check("FindCoordinator empty transactional id", fcResp.Coordinators[0].ErrorCode, kerr.InvalidRequest)
	fc.CoordinatorType, fc.CoordinatorKeys = 2, []string{"x"}
	fcResp, _ = fc.RequestWith(ctx, cl)
	check("FindCoordinator share group key type", fcResp.Coordinators[0].ErrorCode, kerr.InvalidRequest)

	dt := kmsg.NewPtrDescribeTransactionsRequest()
	dt.TransactionalIDs = []string{"bad-txn"}
	dtResp, err := dt.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if s := dtResp.TransactionStates[0]; s.ErrorCode != 0 || s.State != metadata.TxnEmpty || len(s.Topics) != 0 {
		t.Errorf("after refused requests the transaction is %+v, want Empty with no partitions", s)
	}
}

// TestFetchReadCommittedFields checks a read_committed Fetch response at
// the protocol level: the last stable offset stops at an open
// transaction, data below it only, and aborted transactions listed with
// their producer ID and first offset.
func TestFetchReadCommittedFields(t *testing.T) {
	a := startTestAgent(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	created, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "rc")
	if err != nil {
		t.Fatal(err)
	}
	p, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr()), kgo.TransactionalID("rc-p"), kgo.DefaultProduceTopic("rc"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	produce := func(v string) {
		if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// offsets: 0-1 aborted data, 2 abort marker, 3 committed data, 4 commit
	// marker, 5 open data.
	for i, commit := range []bool{false, true} {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		produce(fmt.Sprint("a", i))
		if !commit {
			produce(fmt.Sprint("b", i))
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produce("open")
	pid, _, _ := p.ProducerID(ctx)

	fetch := func(iso int8, offset int64) kmsg.FetchResponseTopicPartition {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxBytes, req.IsolationLevel = -1, 1<<20, iso
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "rc", created.ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes = offset, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0]
	}
	lastOffset := func(raw []byte) int64 {
		end := int64(-1)
		for len(raw) > 0 {
			var b kmsg.RecordBatch
			if err := b.ReadFrom(raw); err != nil {
				t.Fatal(err)
			}
			end = b.FirstOffset + int64(b.LastOffsetDelta)
			raw = raw[12+b.Length:]
		}
		return end
	}
	rc := fetch(1, 0)
	if rc.ErrorCode != 0 || rc.HighWatermark != 6 || rc.LastStableOffset != 5 {
		t.Fatalf("read_committed: error %d, hwm %d, lso %d; want 0, 6, 5", rc.ErrorCode, rc.HighWatermark, rc.LastStableOffset)
	}
	if got := lastOffset(rc.RecordBatches); got != 4 {
		t.Fatalf("read_committed data ends at %d, want 4 (the commit marker; the open batch at 5 withheld)", got)
	}
	if len(rc.AbortedTransactions) != 1 || rc.AbortedTransactions[0].ProducerID != pid || rc.AbortedTransactions[0].FirstOffset != 0 {
		t.Fatalf("aborted transactions = %+v, want producer %d from 0", rc.AbortedTransactions, pid)
	}
	// From past the aborted range, it is not listed.
	if rc := fetch(1, 3); len(rc.AbortedTransactions) != 0 {
		t.Fatalf("aborted transactions from 3 = %+v", rc.AbortedTransactions)
	}
	// Between the last stable offset and the high watermark: nothing yet.
	if rc := fetch(1, 5); rc.ErrorCode != 0 || len(rc.RecordBatches) != 0 {
		t.Fatalf("read_committed at the lso: error %d, %d bytes", rc.ErrorCode, len(rc.RecordBatches))
	}
	ru := fetch(0, 0)
	if ru.LastStableOffset != 6 || ru.AbortedTransactions != nil || lastOffset(ru.RecordBatches) != 5 {
		t.Fatalf("read_uncommitted: lso %d, aborted %+v, data to %d", ru.LastStableOffset, ru.AbortedTransactions, lastOffset(ru.RecordBatches))
	}
}
