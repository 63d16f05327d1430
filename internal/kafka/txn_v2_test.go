package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/produce"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/txn"
)

// startTxnServer is startServer with a transaction coordinator.
func startTxnServer(t *testing.T) *testServer {
	t.Helper()
	return startServerDeps(t, Config{}, nil, func(d *Deps) {
		store := d.Log.(*sqlite.Store)
		d.Txn = txn.New(txn.Config{}, store, d.Producer.(*produce.Batcher), soleOwner{d.Membership.(cluster.Single)}, nil, discardLogger())
		d.Transactions = store
	})
}

func TestApiVersionsFeatures(t *testing.T) {
	ts := startServer(t, Config{})
	rc := ts.dial()
	for _, v := range []int16{3, 4, 5} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version, req.ClientSoftwareName, req.ClientSoftwareVersion = v, "t", "1"
		resp := rc.roundTrip(req).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 || resp.FinalizedFeaturesEpoch < 0 || len(resp.FinalizedFeatures) != 1 || len(resp.SupportedFeatures) != 1 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		if f := resp.FinalizedFeatures[0]; f.Name != "transaction.version" || f.MaxVersionLevel != 2 {
			t.Fatalf("v%d: finalized %+v, want transaction.version 2", v, f)
		}
		if f := resp.SupportedFeatures[0]; f.Name != "transaction.version" || f.MinVersion != 0 || f.MaxVersion != 2 {
			t.Fatalf("v%d: supported %+v", v, f)
		}
	}
	// KIP-1242: the cluster and node the client expects.
	for _, c := range []struct {
		cluster *string
		node    int32
		want    int16
	}{
		{nil, -1, 0},
		{kmsg.StringPtr("test-cluster"), 1, 0},
		{kmsg.StringPtr("other-cluster"), 1, kerr.RebootstrapRequired.Code},
		{kmsg.StringPtr("test-cluster"), 2, kerr.RebootstrapRequired.Code},
		{kmsg.StringPtr("test-cluster"), -1, kerr.InvalidRequest.Code},
		{nil, 1, kerr.InvalidRequest.Code},
	} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version, req.ClientSoftwareName, req.ClientSoftwareVersion = 5, "t", "1"
		req.ClusterID, req.NodeID = c.cluster, c.node
		resp := rc.roundTrip(req).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != c.want || (c.want == 0 && !sameKeys(resp.ApiKeys)) {
			t.Fatalf("v5 cluster %v node %d: error %d, %d keys; want %d", c.cluster, c.node, resp.ErrorCode, len(resp.ApiKeys), c.want)
		}
	}
}

// TestTxnV2Wire drives transactions version 2 over the wire: Produce v12
// and TxnOffsetCommit v5 register themselves, EndTxn v5 answers with the
// bumped epoch, and the v3-v11 / v0-v4 rules are unchanged.
func TestTxnV2Wire(t *testing.T) {
	ts := startTxnServer(t)
	ts.createTopic("t", 2, nil)
	rc := ts.dial()
	init := kmsg.NewPtrInitProducerIDRequest()
	init.Version, init.TransactionalID, init.TransactionTimeoutMillis = 5, kmsg.StringPtr("tx"), 60000
	ir := rc.roundTrip(init).(*kmsg.InitProducerIDResponse)
	if ir.ErrorCode != 0 || ir.ProducerEpoch != 0 {
		t.Fatalf("InitProducerID v5: %+v", ir)
	}
	pid := ir.ProducerID
	batch := func(epoch int16, seq int32) []byte {
		return newBatch(2, 10, func(b *kmsg.RecordBatch) {
			b.ProducerID, b.ProducerEpoch, b.FirstSequence = pid, epoch, seq
			b.Attributes |= records.AttrTransactional
		})
	}
	produce := func(version int16, epoch int16, seq int32) int16 {
		req := produceReq(version, -1, producePart{"t", 0, batch(epoch, seq)})
		req.TransactionID = kmsg.StringPtr("tx")
		return rc.roundTrip(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	}
	if code := produce(11, 0, 0); code != kerr.InvalidTxnState.Code {
		t.Fatalf("Produce v11 to a partition never added = %d, want INVALID_TXN_STATE", code)
	}
	if code := produce(12, 0, 0); code != 0 {
		t.Fatalf("Produce v12 = %d, want its partition added and the batch stored", code)
	}
	commit := kmsg.NewPtrTxnOffsetCommitRequest()
	commit.Version, commit.TransactionalID, commit.Group, commit.ProducerID, commit.ProducerEpoch = 5, "tx", "g", pid, 0
	ct := kmsg.NewTxnOffsetCommitRequestTopic()
	ct.Topic = "t"
	cp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	cp.Partition, cp.Offset = 1, 42
	ct.Partitions = append(ct.Partitions, cp)
	commit.Topics = append(commit.Topics, ct)
	if code := rc.roundTrip(commit).(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("TxnOffsetCommit v5 without AddOffsetsToTxn = %d", code)
	}
	end := func(version, epoch int16, commit bool) *kmsg.EndTxnResponse {
		req := kmsg.NewPtrEndTxnRequest()
		req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = version, "tx", pid, epoch, commit
		return rc.roundTrip(req).(*kmsg.EndTxnResponse)
	}
	// The broker path (v4+) verifies without adding.
	verify := func(partition int32) int16 {
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.Version = 5
		tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
		tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = "tx", pid, 0, true
		tx.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: "t", Partitions: []int32{partition}}}
		req.Transactions = append(req.Transactions, tx)
		resp := rc.roundTrip(req).(*kmsg.AddPartitionsToTxnResponse)
		if resp.ErrorCode != 0 || len(resp.Transactions) != 1 {
			t.Fatalf("AddPartitionsToTxn v5: %+v", resp)
		}
		return resp.Transactions[0].Topics[0].Partitions[0].ErrorCode
	}
	if code := verify(0); code != 0 {
		t.Fatalf("verify the produced partition = %d", code)
	}
	if code := verify(1); code != kerr.InvalidTxnState.Code {
		t.Fatalf("verify a partition never produced to = %d, want INVALID_TXN_STATE", code)
	}
	if code := verify(1); code != kerr.InvalidTxnState.Code {
		t.Fatalf("verify added it: %d", code)
	}
	if r := end(5, 0, true); r.ErrorCode != 0 || r.ProducerID != pid || r.ProducerEpoch != 1 {
		t.Fatalf("EndTxn v5 = %+v, want producer %d epoch 1", r, pid)
	}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version, fetch.Group = 7, "g"
	ft := kmsg.NewOffsetFetchRequestTopic()
	ft.Topic, ft.Partitions = "t", []int32{1}
	fetch.Topics = append(fetch.Topics, ft)
	if fr := rc.roundTrip(fetch).(*kmsg.OffsetFetchResponse); fr.Topics[0].Partitions[0].Offset != 42 {
		t.Fatalf("committed offset = %+v, want 42", fr.Topics[0].Partitions[0])
	}
	// The ended transaction's epoch is fenced; the next one starts at
	// sequence 0 under the new epoch.
	if code := produce(12, 0, 1); code == 0 {
		t.Fatal("Produce v12 with the ended transaction's epoch was stored")
	}
	if code := produce(12, 1, 0); code != 0 {
		t.Fatalf("Produce v12 in the next transaction = %d", code)
	}
	if r := end(5, 1, false); r.ErrorCode != 0 || r.ProducerEpoch != 2 {
		t.Fatalf("EndTxn v5 abort = %+v, want epoch 2", r)
	}
	// A retry with the previous epoch is answered again.
	if r := end(5, 1, false); r.ErrorCode != 0 || r.ProducerEpoch != 2 {
		t.Fatalf("retried EndTxn v5 = %+v", r)
	}
	// EndTxn v4 keeps its rules: a commit with nothing ongoing (the last
	// end aborted) is INVALID_TXN_STATE, and the epoch stays.
	if r := end(4, 2, true); r.ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatalf("EndTxn v4 commit with nothing ongoing = %+v", r)
	}
	if r := end(5, 2, false); r.ErrorCode != 0 || r.ProducerEpoch != 3 {
		t.Fatalf("EndTxn v5 empty abort = %+v, want epoch 3", r)
	}
}

// TestListTransactionsPattern checks v2's transactional ID pattern: an RE2
// expression matching the whole ID; an invalid one is
// INVALID_REGULAR_EXPRESSION.
func TestListTransactionsPattern(t *testing.T) {
	ts := startTxnServer(t)
	rc := ts.dial()
	for _, id := range []string{"orders-1", "orders-2", "payments-1"} {
		init := kmsg.NewPtrInitProducerIDRequest()
		init.Version, init.TransactionalID, init.TransactionTimeoutMillis = 4, kmsg.StringPtr(id), 60000
		if r := rc.roundTrip(init).(*kmsg.InitProducerIDResponse); r.ErrorCode != 0 {
			t.Fatalf("init %s: %d", id, r.ErrorCode)
		}
	}
	list := func(pattern *string) (int16, []string) {
		req := kmsg.NewPtrListTransactionsRequest()
		req.Version, req.TransactionalIDPattern = 2, pattern
		resp := rc.roundTrip(req).(*kmsg.ListTransactionsResponse)
		var ids []string
		for _, s := range resp.TransactionStates {
			ids = append(ids, s.TransactionalID)
		}
		return resp.ErrorCode, ids
	}
	for _, c := range []struct {
		pattern *string
		want    int
	}{{nil, 3}, {kmsg.StringPtr(""), 3}, {kmsg.StringPtr("orders-.*"), 2}, {kmsg.StringPtr("orders"), 0}, {kmsg.StringPtr(".*-1"), 2}} {
		if code, ids := list(c.pattern); code != 0 || len(ids) != c.want {
			t.Fatalf("pattern %v: error %d, %v; want %d IDs", c.pattern, code, ids, c.want)
		}
	}
	if code, _ := list(kmsg.StringPtr("orders-(")); code != kerr.InvalidRegularExpression.Code {
		t.Fatalf("invalid pattern: error %d, want INVALID_REGULAR_EXPRESSION", code)
	}
}
