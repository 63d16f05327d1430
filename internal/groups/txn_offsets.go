package groups

// Transactional offsets (TxnOffsetCommit): the member checks of KIP-447
// and staging the offsets in the store under the transaction.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// CheckTxnCommit checks the member a TxnOffsetCommit (v3+) names against a
// classic group, as Kafka's coordinator does for transactional commits
// (KIP-447, so a producer whose consumer lost its partitions in a
// rebalance cannot commit their offsets): an unknown member is
// UNKNOWN_MEMBER_ID, a static member replaced by another
// FENCED_INSTANCE_ID, another generation ILLEGAL_GENERATION. It writes
// nothing. Requests that name no member (generation -1, older versions)
// are not checked; neither are KIP-848 consumer groups.
func (c *Coordinator) CheckTxnCommit(ctx context.Context, group, memberID string, instanceID *string, generation int32) error {
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

// EnsureGroup creates group, empty, if the store has never heard of it, as
// Kafka's coordinator does for a TxnOffsetCommit: offsets committed by a
// transaction for a group that never joined or committed otherwise must be
// the group's, visible to OffsetFetch once the transaction commits. A
// known group, classic or KIP-848, is left as it is.
func (c *Coordinator) EnsureGroup(ctx context.Context, group string) error {
	_, err := c.get(ctx, group, true)
	if asConsumer(err) != nil {
		return nil
	}
	return err
}
