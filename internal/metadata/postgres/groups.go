package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/rowscan"
	"github.com/sluicehq/sluice/internal/metadata/sequencer"
)

// HeartbeatAgent implements metadata.Agents; the heartbeat time is the
// database's clock, as LiveAgents compares it with.
func (s *Store) HeartbeatAgent(ctx context.Context, a metadata.Agent) error {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO agents(node_id, host, port, zone, instance, heartbeat_at, peer_addr, listeners, roles, agent_group) VALUES ($1, $2, $3, $4, $5, clock_timestamp(), $6, $7, $8, $9)
		ON CONFLICT (node_id) DO UPDATE SET host = excluded.host, port = excluded.port, zone = excluded.zone,
			instance = excluded.instance, heartbeat_at = excluded.heartbeat_at, peer_addr = excluded.peer_addr, listeners = excluded.listeners,
			roles = excluded.roles, agent_group = excluded.agent_group`,
		a.NodeID, a.Host, a.Port, a.Zone, a.Instance, a.PeerAddr, a.Listeners, a.Roles, a.Group)
	return err
}

// LiveAgents implements metadata.Agents against the database clock.
func (s *Store) LiveAgents(ctx context.Context, ttl time.Duration) ([]metadata.Agent, error) {
	return queryAll(ctx, s, func(row rowscan.Scanner) (metadata.Agent, error) {
		var a metadata.Agent
		err := row.Scan(&a.NodeID, &a.Host, &a.Port, &a.Zone, &a.Instance, &a.HeartbeatAt, &a.PeerAddr, &a.Listeners, &a.Roles, &a.Group)
		a.HeartbeatAt = a.HeartbeatAt.UTC()
		return a, err
	}, `SELECT node_id, host, port, zone, instance, heartbeat_at, peer_addr, listeners, roles, agent_group FROM agents
		WHERE heartbeat_at > clock_timestamp() - $1::bigint * interval '1 microsecond' ORDER BY node_id`, ttl.Microseconds())
}

// RemoveAgent implements metadata.Agents.
func (s *Store) RemoveAgent(ctx context.Context, nodeID int32, instance string) error {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `DELETE FROM agents WHERE node_id = $1 AND instance = $2`, nodeID, instance)
	return err
}

const groupSelect = `SELECT name, owner_epoch, generation, protocol_type, protocol, state, snapshot, updated_at FROM groups`

func scanGroup(row rowscan.Scanner) (metadata.Group, error) {
	var g metadata.Group
	if err := row.Scan(&g.Name, &g.OwnerEpoch, &g.Generation, &g.ProtocolType, &g.Protocol, &g.State, &g.Snapshot, &g.UpdatedAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return metadata.Group{}, metadata.ErrGroupNotFound
		}
		return metadata.Group{}, err
	}
	g.UpdatedAt = g.UpdatedAt.UTC()
	return g, nil
}

// ClaimGroup implements metadata.Groups in one statement: the upsert takes
// the row lock, so concurrent claims get distinct, increasing epochs.
func (s *Store) ClaimGroup(ctx context.Context, group string) (metadata.Group, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	return scanGroup(s.pool.QueryRow(ctx, `INSERT INTO groups AS g (name, owner_epoch, generation, protocol_type, protocol, state, updated_at)
		VALUES ($1, 1, 0, '', '', 'Empty', now()) ON CONFLICT (name) DO UPDATE SET owner_epoch = g.owner_epoch + 1
		RETURNING name, owner_epoch, generation, protocol_type, protocol, state, snapshot, updated_at`, group))
}

// fenced checks, inside tx, that epoch still owns group, and holds a lock
// on the group's row until tx ends so no claim can slip in between. A
// share lock lets the owner's own writes run side by side.
func fenced(ctx context.Context, tx pgx.Tx, group string, epoch int64, lock string) error {
	var cur int64
	err := tx.QueryRow(ctx, `SELECT owner_epoch FROM groups WHERE name = $1 FOR `+lock, group).Scan(&cur)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	return sequencer.CheckOwnerEpoch(group, cur, err == nil, epoch)
}

// inGroupTx runs fn in a transaction after checking the owner epoch.
func (s *Store) inGroupTx(ctx context.Context, group string, epoch int64, lock string, fn func(pgx.Tx) error) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := fenced(ctx, tx, group, epoch, lock); err != nil {
			return err
		}
		return fn(tx)
	})
}

// SaveGroup implements metadata.Groups.
func (s *Store) SaveGroup(ctx context.Context, g metadata.Group) error {
	return s.inGroupTx(ctx, g.Name, g.OwnerEpoch, "UPDATE", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE groups SET generation = $1, protocol_type = $2, protocol = $3, state = $4, snapshot = $5, updated_at = now()
			WHERE name = $6`, g.Generation, g.ProtocolType, g.Protocol, g.State, g.Snapshot, g.Name)
		return err
	})
}

// Group implements metadata.Groups.
func (s *Store) Group(ctx context.Context, group string) (metadata.Group, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	return scanGroup(s.pool.QueryRow(ctx, groupSelect+` WHERE name = $1`, group))
}

// ListGroups implements metadata.Groups.
func (s *Store) ListGroups(ctx context.Context) ([]metadata.Group, error) {
	return queryAll(ctx, s, scanGroup, groupSelect+` ORDER BY name`)
}

// DeleteGroup implements metadata.Groups.
func (s *Store) DeleteGroup(ctx context.Context, group string, epoch int64) error {
	return s.inGroupTx(ctx, group, epoch, "UPDATE", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM group_offsets WHERE group_name = $1`, group); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM groups WHERE name = $1`, group)
		return err
	})
}

// CommitOffsets implements metadata.Groups.
func (s *Store) CommitOffsets(ctx context.Context, group string, epoch int64, offsets []metadata.OffsetCommit) error {
	if len(offsets) == 0 {
		return s.inGroupTx(ctx, group, epoch, "SHARE", func(pgx.Tx) error { return nil })
	}
	topics := make([]string, len(offsets))
	parts := make([]int32, len(offsets))
	offs := make([]int64, len(offsets))
	epochs := make([]int32, len(offsets))
	metas := make([]string, len(offsets))
	for i, o := range offsets {
		topics[i], parts[i], offs[i], epochs[i], metas[i] = o.Topic, o.Partition, o.Offset, o.LeaderEpoch, o.Metadata
	}
	return s.inGroupTx(ctx, group, epoch, "SHARE", func(tx pgx.Tx) error {
		// A request naming a partition twice keeps the last value, as
		// applying the commits one by one would.
		_, err := tx.Exec(ctx, `INSERT INTO group_offsets(group_name, topic, partition, committed_offset, leader_epoch, metadata, committed_at)
			SELECT DISTINCT ON (t, p) $1, t, p, o, e, m, now()
			FROM unnest($2::text[], $3::int[], $4::bigint[], $5::int[], $6::text[]) WITH ORDINALITY AS u(t, p, o, e, m, i)
			ORDER BY t, p, i DESC
			ON CONFLICT (group_name, topic, partition) DO UPDATE SET
			committed_offset = excluded.committed_offset, leader_epoch = excluded.leader_epoch,
			metadata = excluded.metadata, committed_at = excluded.committed_at`,
			group, topics, parts, offs, epochs, metas)
		return err
	})
}

// FetchOffsets implements metadata.Groups.
func (s *Store) FetchOffsets(ctx context.Context, group string) ([]metadata.OffsetCommit, error) {
	return queryAll(ctx, s, func(row rowscan.Scanner) (metadata.OffsetCommit, error) {
		var o metadata.OffsetCommit
		err := row.Scan(&o.Topic, &o.Partition, &o.Offset, &o.LeaderEpoch, &o.Metadata, &o.CommittedAt)
		o.CommittedAt = o.CommittedAt.UTC()
		return o, err
	}, `SELECT topic, partition, committed_offset, leader_epoch, metadata, committed_at
		FROM group_offsets WHERE group_name = $1 ORDER BY topic, partition`, group)
}

// DeleteOffsets implements metadata.Groups.
func (s *Store) DeleteOffsets(ctx context.Context, group string, epoch int64, offsets []metadata.OffsetCommit) error {
	topics := make([]string, len(offsets))
	parts := make([]int32, len(offsets))
	for i, o := range offsets {
		topics[i], parts[i] = o.Topic, o.Partition
	}
	return s.inGroupTx(ctx, group, epoch, "SHARE", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM group_offsets g USING unnest($2::text[], $3::int[]) AS u(t, p)
			WHERE g.group_name = $1 AND g.topic = u.t AND g.partition = u.p`, group, topics, parts)
		return err
	})
}
