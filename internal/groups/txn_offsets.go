package groups

// Transactional offsets (TxnOffsetCommit): the member checks of KIP-447
// and staging the offsets in the store under the transaction.

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/internal/metadata"
)

// TxnOffsetCommitRequest is a TxnOffsetCommit request.
type TxnOffsetCommitRequest struct {
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
	Group           string
	// MemberID, InstanceID and Generation (v3+) name the consumer whose
	// offsets these are; "" and -1 (older versions) name none.
	MemberID   string
	InstanceID *string
	Generation int32
	Offsets    []metadata.OffsetCommit
}

// TxnCommit handles TxnOffsetCommit: it stages the offsets in the store
// under the transaction, to be applied when it commits (dropped if it
// aborts), and returns one error per offset, or a group-level error that
// applies to all of them (INVALID_GROUP_ID, NOT_COORDINATOR).
//
// Offsets of unknown topics or partitions fail alone with
// UNKNOWN_TOPIC_OR_PARTITION. The others share one outcome: the member
// check (checkTxnCommit), then the store's checks, made in the same store
// transaction as the staging: the producer must own the transactional ID
// (UNKNOWN_PRODUCER_ID) with its current epoch (INVALID_PRODUCER_EPOCH),
// and the transaction must be ongoing with the group added by
// AddOffsetsToTxn (INVALID_TXN_STATE). A group the store has never seen is
// created, empty, once the offsets are staged (ensureGroup).
func (c *Coordinator) TxnCommit(ctx context.Context, req TxnOffsetCommitRequest) ([]error, error) {
	if req.Group == "" {
		return nil, kerr.InvalidGroupID
	}
	if c.owners.Owner(req.Group).NodeID != c.owners.Self().NodeID {
		return nil, kerr.NotCoordinator
	}
	errs := make([]error, len(req.Offsets))
	valid := make([]metadata.OffsetCommit, 0, len(req.Offsets))
	idx := make([]int, 0, len(req.Offsets))
	topics, err := c.lookupTopics(ctx, req.Group, req.Offsets)
	if err != nil {
		return nil, err
	}
	for i, o := range req.Offsets {
		t := topics[o.Topic]
		if t == nil || o.Partition < 0 || o.Partition >= t.Partitions {
			errs[i] = kerr.UnknownTopicOrPartition
			continue
		}
		valid = append(valid, o)
		idx = append(idx, i)
	}
	err = c.checkTxnCommit(ctx, req.Group, req.MemberID, req.InstanceID, req.Generation)
	if err == nil && len(valid) > 0 {
		err = c.stageTxnOffsets(ctx, req, valid)
	}
	for _, i := range idx {
		errs[i] = err
	}
	return errs, nil
}

// stageTxnOffsets stages offsets and then makes sure the group exists.
func (c *Coordinator) stageTxnOffsets(ctx context.Context, req TxnOffsetCommitRequest, offsets []metadata.OffsetCommit) error {
	err := c.store.StageTxnOffsets(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group, offsets)
	switch {
	case err == nil:
		// Like Kafka, a group first named here is created (empty), after
		// the offsets are staged so a refused request leaves nothing
		// behind; otherwise OffsetFetch would not find the group and its
		// committed offsets.
		return c.ensureGroup(ctx, req.Group)
	case errors.Is(err, metadata.ErrInvalidTxnState):
		return fmt.Errorf("%w: %w", kerr.InvalidTxnState, err)
	case errors.Is(err, metadata.ErrInvalidProducerEpoch):
		return fmt.Errorf("%w: %w", kerr.InvalidProducerEpoch, err)
	case errors.Is(err, metadata.ErrUnknownProducerID):
		return fmt.Errorf("%w: %w", kerr.UnknownProducerID, err)
	}
	c.logger.Warn("stage transactional offsets", "group", req.Group, "err", err)
	return fmt.Errorf("%w: %v", kerr.CoordinatorNotAvailable, err)
}

// checkTxnCommit checks the member a TxnOffsetCommit (v3+) names against a
// classic group, as Kafka's coordinator does for transactional commits
// (KIP-447, so a producer whose consumer lost its partitions in a
// rebalance cannot commit their offsets): an unknown member is
// UNKNOWN_MEMBER_ID, a static member replaced by another
// FENCED_INSTANCE_ID, another generation ILLEGAL_GENERATION. It writes
// nothing. Requests that name no member (generation -1, older versions)
// are not checked; neither are KIP-848 consumer groups.
func (c *Coordinator) checkTxnCommit(ctx context.Context, group, memberID string, instanceID *string, generation int32) error {
	if memberID == "" && generation < 0 {
		return nil
	}
	g, err := c.get(ctx, group, false)
	switch {
	case errors.Is(err, errNoGroup):
		return kerr.UnknownMemberID
	case asConsumer(err) != nil:
		return nil
	case err != nil:
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gone {
		return kerr.NotCoordinator
	}
	if _, ok := g.members[memberID]; !ok {
		return kerr.UnknownMemberID
	}
	if instanceID != nil && g.static[*instanceID] != memberID {
		return kerr.FencedInstanceID
	}
	if generation >= 0 && generation != g.generation {
		return kerr.IllegalGeneration
	}
	return nil
}

// ensureGroup creates group, empty, if the store has never heard of it, as
// Kafka's coordinator does for a TxnOffsetCommit: offsets committed by a
// transaction for a group that never joined or committed otherwise must be
// the group's, visible to OffsetFetch once the transaction commits. A
// known group, classic or KIP-848, is left as it is.
func (c *Coordinator) ensureGroup(ctx context.Context, group string) error {
	_, err := c.get(ctx, group, true)
	if asConsumer(err) != nil {
		return nil
	}
	return err
}
