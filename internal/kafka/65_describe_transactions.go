package kafka

// DescribeTransactions (key 65), version 0.
//
// Answered by each transactional ID's coordinator (NOT_COORDINATOR
// elsewhere) from the metadata store: state (Kafka's names), timeout,
// start time (-1 unless a transaction is open), producer ID and epoch, and
// the partitions of the open transaction. Unknown IDs get
// TRANSACTIONAL_ID_NOT_FOUND.
//
// Authorization: DESCRIBE on the transactional ID
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED); only the topics the principal
// may describe are listed.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDescribeTransactions(ctx context.Context, req *request, m *kmsg.DescribeTransactionsRequest) kmsg.Response {
	resp := kmsg.NewPtrDescribeTransactionsResponse()
	resp.Version = req.version
	for _, id := range m.TransactionalIDs {
		ts := kmsg.NewDescribeTransactionsResponseTransactionState()
		ts.TransactionalID = id
		ts.ProducerID, ts.ProducerEpoch, ts.StartTimestamp = -1, -1, -1
		if !s.authorizeTxnID(req, kmsg.ACLOperationDescribe, id) {
			ts.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			s.metrics.errorCode(req.key, ts.ErrorCode)
			resp.TransactionStates = append(resp.TransactionStates, ts)
			continue
		}
		t, err := s.txn.Describe(ctx, id)
		if err != nil {
			ts.ErrorCode = groupErrorCode(err)
			s.metrics.errorCode(req.key, ts.ErrorCode)
			resp.TransactionStates = append(resp.TransactionStates, ts)
			continue
		}
		ts.State, ts.TimeoutMillis, ts.ProducerID, ts.ProducerEpoch = t.State, t.TimeoutMs, t.ProducerID, t.ProducerEpoch
		if !t.StartedAt.IsZero() {
			ts.StartTimestamp = t.StartedAt.UnixMilli()
		}
		byTopic := map[string]int{}
		for _, p := range t.Partitions {
			// Only the topics the principal may describe, as Kafka.
			if _, seen := byTopic[p.Topic]; !seen && !s.authorizeTopic(req, kmsg.ACLOperationDescribe, p.Topic) {
				byTopic[p.Topic] = -1
			}
			if byTopic[p.Topic] == -1 {
				continue
			}
			i, ok := byTopic[p.Topic]
			if !ok {
				i = len(ts.Topics)
				byTopic[p.Topic] = i
				tt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
				tt.Topic = p.Topic
				ts.Topics = append(ts.Topics, tt)
			}
			ts.Topics[i].Partitions = append(ts.Topics[i].Partitions, p.Partition)
		}
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return resp
}
