package kafka

// ListTransactions (key 66), versions 0-2.
//
// Each agent lists the transactional IDs it coordinates (as ListGroups
// does; admin clients ask every broker), filtered by state (unknown state
// names are echoed in UnknownStateFilters, as Kafka does), by producer ID,
// (v1) by open transactions running longer than a duration, and (v2) by a
// transactional ID pattern: an RE2 regular expression (Go's regexp) that
// must match the whole ID, as Kafka's matches() does; an invalid one is
// INVALID_REGULAR_EXPRESSION.
//
// Authorization: only the transactional IDs the principal may describe are
// listed.

import (
	"context"
	"regexp"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
)

var txnStates = map[string]bool{
	metadata.TxnEmpty: true, metadata.TxnOngoing: true, metadata.TxnPrepareCommit: true, metadata.TxnPrepareAbort: true,
	metadata.TxnCompleteCommit: true, metadata.TxnCompleteAbort: true, metadata.TxnDead: true,
	"PrepareEpochFence": true,
}

func (s *Server) handleListTransactions(ctx context.Context, req *request, m *kmsg.ListTransactionsRequest) kmsg.Response {
	resp := kmsg.NewPtrListTransactionsResponse()
	resp.Version = req.version
	states := map[string]bool{}
	for _, st := range m.StateFilters {
		if !txnStates[st] {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, st)
		}
		states[st] = true
	}
	pids := map[int64]bool{}
	for _, p := range m.ProducerIDFilters {
		pids[p] = true
	}
	all, err := s.txn.List(ctx)
	if err != nil {
		resp.ErrorCode = groupErrorCode(err)
		s.metrics.errorCode(req.key, resp.ErrorCode)
		return resp
	}
	var pattern *regexp.Regexp
	if req.version >= 2 && m.TransactionalIDPattern != nil && *m.TransactionalIDPattern != "" {
		if pattern, err = regexp.Compile(`^(?:` + *m.TransactionalIDPattern + `)$`); err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			s.metrics.errorCode(req.key, resp.ErrorCode)
			return resp
		}
	}
	now := time.Now()
	for _, t := range all {
		if pattern != nil && !pattern.MatchString(t.ID) {
			continue
		}
		if len(states) > 0 && !states[t.State] || len(pids) > 0 && !pids[t.ProducerID] {
			continue
		}
		if !s.authorizeTxnID(req, kmsg.ACLOperationDescribe, t.ID) {
			continue // listed only when the principal may describe it
		}
		if req.version >= 1 && m.DurationFilterMillis >= 0 &&
			(t.StartedAt.IsZero() || now.Sub(t.StartedAt) < time.Duration(m.DurationFilterMillis)*time.Millisecond) {
			continue
		}
		ts := kmsg.NewListTransactionsResponseTransactionState()
		ts.TransactionalID, ts.ProducerID, ts.TransactionState = t.ID, t.ProducerID, t.State
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return resp
}
