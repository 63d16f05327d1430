package agent

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTxnOffsetCommitNewGroup commits offsets in a transaction for a group
// that never joined nor committed otherwise (sarama's AddMessageToTxn with
// a plain partition consumer does this): once the transaction commits,
// OffsetFetch must return them, as Kafka, which creates the group on
// TxnOffsetCommit, does. An aborted transaction leaves a new group's
// offsets unset.
func TestTxnOffsetCommitNewGroup(t *testing.T) {
	a := startTestAgent(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.KafkaAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "in"); err != nil {
		t.Fatal(err)
	}
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID = kmsg.StringPtr("newgroup-txn")
	init.TransactionTimeoutMillis = 60000
	ir, err := init.RequestWith(ctx, cl)
	if err != nil || ir.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %+v", err, ir)
	}
	txn := func(group string, offset int64, commit bool) {
		t.Helper()
		ao := kmsg.NewPtrAddOffsetsToTxnRequest()
		ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = "newgroup-txn", ir.ProducerID, ir.ProducerEpoch, group
		if r, err := ao.RequestWith(ctx, cl); err != nil || r.ErrorCode != 0 {
			t.Fatalf("AddOffsetsToTxn %s: %v %+v", group, err, r)
		}
		tc := kmsg.NewPtrTxnOffsetCommitRequest()
		tc.TransactionalID, tc.Group, tc.ProducerID, tc.ProducerEpoch = "newgroup-txn", group, ir.ProducerID, ir.ProducerEpoch
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = "in"
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Offset = offset
		rt.Partitions = append(rt.Partitions, rp)
		tc.Topics = append(tc.Topics, rt)
		if r, err := tc.RequestWith(ctx, cl); err != nil || r.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("TxnOffsetCommit %s: %v %+v", group, err, r)
		}
		end := kmsg.NewPtrEndTxnRequest()
		end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = "newgroup-txn", ir.ProducerID, ir.ProducerEpoch, commit
		r, err := end.RequestWith(ctx, cl)
		if err != nil || r.ErrorCode != 0 {
			t.Fatalf("EndTxn %s: %v %+v", group, err, r)
		}
		if r.Version >= 5 {
			// Transactions version 2: every end bumps the epoch.
			ir.ProducerID, ir.ProducerEpoch = r.ProducerID, r.ProducerEpoch
		}
	}
	committed := func(group string) int64 {
		t.Helper()
		offs, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatalf("FetchOffsets %s: %v", group, err)
		}
		o, ok := offs.Lookup("in", 0)
		if !ok {
			return -1
		}
		if o.Err != nil {
			t.Fatalf("FetchOffsets %s: %v", group, o.Err)
		}
		return o.At
	}
	txn("fresh", 3, true)
	if got := committed("fresh"); got != 3 {
		t.Fatalf("group first named by a committed transaction is at %d, want 3", got)
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := listed["fresh"]; !ok {
		t.Fatalf("group created by TxnOffsetCommit is not listed: %v", listed.Groups())
	}
	txn("fresh-aborted", 4, false)
	if got := committed("fresh-aborted"); got != -1 {
		t.Fatalf("group first named by an aborted transaction is at %d, want no offset", got)
	}
}
