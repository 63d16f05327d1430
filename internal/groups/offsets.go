package groups

// Committed offsets: OffsetCommit, OffsetFetch and OffsetDelete for both
// group types.

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
)

// Commit handles OffsetCommit: one error per offset, or a group-level
// error. Offsets of unknown topics or partitions fail alone.
func (c *Coordinator) Commit(ctx context.Context, group, memberID string, instanceID *string, generation int32, offsets []metadata.OffsetCommit) ([]error, error) {
	errs := make([]error, len(offsets))
	valid := make([]metadata.OffsetCommit, 0, len(offsets))
	idx := make([]int, 0, len(offsets))
	parts := make([]tp, 0, len(offsets))
	topics, err := c.lookupTopics(ctx, group, offsets)
	if err != nil {
		return nil, err
	}
	for i, o := range offsets {
		if len(o.Metadata) > c.cfg.MaxMetadataBytes {
			errs[i] = kerr.OffsetMetadataTooLarge
			continue
		}
		t := topics[o.Topic]
		if t == nil || o.Partition < 0 || o.Partition >= t.Partitions {
			errs[i] = kerr.UnknownTopicOrPartition
			continue
		}
		valid = append(valid, o)
		idx = append(idx, i)
		parts = append(parts, tp{t.ID, o.Partition})
	}
	var epoch int64
	g, err := c.get(ctx, group, true)
	if cg := asConsumer(err); cg != nil {
		cg.mu.Lock()
		err = cg.checkCommitLocked(memberID, generation, parts)
		epoch = cg.ownerEpoch
		cg.mu.Unlock()
	} else if err == nil {
		g.mu.Lock()
		err = g.checkCommitLocked(memberID, instanceID, generation)
		epoch = g.epoch
		g.mu.Unlock()
	}
	if err != nil {
		return nil, err
	}
	if len(valid) > 0 {
		if err := c.store.CommitOffsets(ctx, group, epoch, valid); err != nil {
			return nil, c.storeErr(group, err)
		}
		c.metrics.commits.Add(float64(len(valid)))
	}
	for _, i := range idx {
		errs[i] = nil
	}
	return errs, nil
}

// TopicPartitions names partitions of one topic.
type TopicPartitions struct {
	Topic      string
	Partitions []int32
}

// FetchOffsets handles OffsetFetch for one group. With want nil it returns
// every committed offset; otherwise one entry per requested partition, with
// offset -1 where nothing is committed (Kafka's answer, without error).
func (c *Coordinator) FetchOffsets(ctx context.Context, group string, want []TopicPartitions) ([]metadata.OffsetCommit, error) {
	var committed []metadata.OffsetCommit
	_, err := c.get(ctx, group, false)
	switch {
	case errors.Is(err, errNoGroup):
	case err != nil && asConsumer(err) == nil:
		return nil, err
	default:
		if committed, err = c.store.FetchOffsets(ctx, group); err != nil {
			return nil, fmt.Errorf("%w: %v", kerr.CoordinatorNotAvailable, err)
		}
	}
	if want == nil {
		return committed, nil
	}
	type tp struct {
		t string
		p int32
	}
	have := make(map[tp]metadata.OffsetCommit, len(committed))
	for _, o := range committed {
		have[tp{o.Topic, o.Partition}] = o
	}
	var out []metadata.OffsetCommit
	for _, w := range want {
		for _, p := range w.Partitions {
			o, ok := have[tp{w.Topic, p}]
			if !ok {
				o = metadata.OffsetCommit{Topic: w.Topic, Partition: p, Offset: -1, LeaderEpoch: -1}
			}
			out = append(out, o)
		}
	}
	return out, nil
}

// DeleteOffsets handles OffsetDelete: one error per partition, or a
// group-level error. Offsets of topics the group's members subscribe to cannot be
// deleted (GROUP_SUBSCRIBED_TO_TOPIC).
func (c *Coordinator) DeleteOffsets(ctx context.Context, group string, offsets []metadata.OffsetCommit) ([]error, error) {
	g, err := c.get(ctx, group, false)
	if errors.Is(err, errNoGroup) {
		return nil, kerr.GroupIDNotFound
	}
	var (
		subscribed map[string]bool
		epoch      int64
	)
	if cg := asConsumer(err); cg != nil {
		cg.mu.Lock()
		subscribed, epoch = cg.subscribedTopicsLocked(), cg.ownerEpoch
		cg.mu.Unlock()
	} else if err != nil {
		return nil, err
	} else {
		g.mu.Lock()
		subscribed, epoch = g.subscribedTopicsLocked(), g.epoch
		g.mu.Unlock()
	}
	errs := make([]error, len(offsets))
	var del []metadata.OffsetCommit
	for i, o := range offsets {
		if subscribed[o.Topic] {
			errs[i] = kerr.GroupSubscribedToTopic
			continue
		}
		del = append(del, o)
	}
	if len(del) > 0 {
		if err := c.store.DeleteOffsets(ctx, group, epoch, del); err != nil {
			return nil, c.storeErr(group, err)
		}
	}
	return errs, nil
}

// subscribedTopicsLocked decodes the members' consumer-protocol
// subscriptions.
func (g *group) subscribedTopicsLocked() map[string]bool {
	out := map[string]bool{}
	if g.protocolType != "consumer" {
		return out
	}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if p.Name != g.protocol {
				continue
			}
			var meta kmsg.ConsumerMemberMetadata
			if meta.ReadFrom(p.Metadata) == nil {
				for _, t := range meta.Topics {
					out[t] = true
				}
			}
		}
	}
	return out
}

// CheckOffsetFetch validates the member ID and epoch of an OffsetFetch
// (v9+) for a consumer group, as Kafka does; classic groups and requests
// without a member (admin clients) are not checked.
func (c *Coordinator) CheckOffsetFetch(ctx context.Context, group string, memberID *string, memberEpoch int32) error {
	if memberID == nil && memberEpoch < 0 {
		return nil
	}
	_, err := c.get(ctx, group, false)
	g := asConsumer(err)
	if g == nil {
		return nil // classic, unknown, or not ours: FetchOffsets answers
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	id := ""
	if memberID != nil {
		id = *memberID
	}
	m := g.members[id]
	if m == nil {
		return gerr(kerr.UnknownMemberID, "Member %s is not a member of group %s.", id, g.name)
	}
	if memberEpoch != m.epoch {
		return gerr(kerr.StaleMemberEpoch, "The member epoch %d of member %s does not match its current epoch %d.", memberEpoch, id, m.epoch)
	}
	return nil
}

// OffsetFetchRequest is one group of an OffsetFetch request.
type OffsetFetchRequest struct {
	Group string
	// Want names the partitions asked for; nil asks for every committed
	// offset of the group.
	Want []TopicPartitions
	// CheckMember (v9+) checks MemberID and MemberEpoch against a KIP-848
	// consumer group (CheckOffsetFetch).
	CheckMember bool
	MemberID    *string
	MemberEpoch int32
	// RequireStable (v7+) answers UNSTABLE_OFFSET_COMMIT, with offset -1,
	// for partitions that have offsets staged by a transaction not yet
	// completed, instead of their last committed offset.
	RequireStable bool
}

// FetchedOffset is one partition of an OffsetFetch answer. Err is
// UNSTABLE_OFFSET_COMMIT (and Offset -1) for a partition with a staged
// transactional offset under RequireStable, nil otherwise.
type FetchedOffset struct {
	metadata.OffsetCommit
	Err error
}

// OffsetFetch handles one group of an OffsetFetch: the member check, the
// committed offsets (as FetchOffsets), and require_stable. A group-level
// error fails the whole group.
func (c *Coordinator) OffsetFetch(ctx context.Context, req OffsetFetchRequest) ([]FetchedOffset, error) {
	if req.CheckMember {
		if err := c.CheckOffsetFetch(ctx, req.Group, req.MemberID, req.MemberEpoch); err != nil {
			return nil, err
		}
	}
	offsets, err := c.FetchOffsets(ctx, req.Group, req.Want)
	if err != nil {
		return nil, err
	}
	out := make([]FetchedOffset, len(offsets))
	for i, o := range offsets {
		out[i].OffsetCommit = o
	}
	if req.RequireStable {
		c.markUnstable(ctx, req.Group, out)
	}
	return out, nil
}

// markUnstable sets UNSTABLE_OFFSET_COMMIT on the partitions of group that
// have offsets staged by a transaction not yet completed. If the store
// cannot say, the offsets are left as committed (and the failure logged):
// the client sees the last committed offset, as without require_stable.
func (c *Coordinator) markUnstable(ctx context.Context, group string, offsets []FetchedOffset) {
	pending, err := c.store.PendingTxnOffsets(ctx, group)
	if err != nil {
		c.logger.Warn("pending transactional offsets", "group", group, "err", err)
		return
	}
	type key struct {
		t string
		p int32
	}
	staged := make(map[key]bool, len(pending))
	for _, o := range pending {
		staged[key{o.Topic, o.Partition}] = true
	}
	for i := range offsets {
		o := &offsets[i]
		if staged[key{o.Topic, o.Partition}] {
			o.Offset, o.Err = -1, kerr.UnstableOffsetCommit
		}
	}
}

// lookupTopics returns the topics the offsets name, once each (nil for a
// topic the store does not have). A store that cannot answer is a
// group-level error (COORDINATOR_NOT_AVAILABLE, retriable), not an unknown
// topic: a client told UNKNOWN_TOPIC_OR_PARTITION during an outage would
// drop its commit.
func (c *Coordinator) lookupTopics(ctx context.Context, group string, offsets []metadata.OffsetCommit) (map[string]*metadata.Topic, error) {
	topics := make(map[string]*metadata.Topic)
	for _, o := range offsets {
		if _, seen := topics[o.Topic]; seen {
			continue
		}
		t, err := c.store.Topic(ctx, o.Topic)
		switch {
		case errors.Is(err, metadata.ErrUnknownTopic):
			topics[o.Topic] = nil
		case err != nil:
			return nil, c.storeErr(group, err)
		default:
			topics[o.Topic] = &t
		}
	}
	return topics, nil
}
