package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sequencer"
)

// HeartbeatAgent implements metadata.Agents.
func (s *Store) HeartbeatAgent(ctx context.Context, a metadata.Agent) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO agents(node_id, host, port, zone, instance, heartbeat_at, peer_addr, listeners, roles, agent_group) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(node_id) DO UPDATE SET host = excluded.host, port = excluded.port, zone = excluded.zone,
			instance = excluded.instance, heartbeat_at = excluded.heartbeat_at, peer_addr = excluded.peer_addr, listeners = excluded.listeners,
			roles = excluded.roles, agent_group = excluded.agent_group`,
		a.NodeID, a.Host, a.Port, a.Zone, a.Instance, time.Now().UnixMilli(), a.PeerAddr, a.Listeners, a.Roles, a.Group)
	return err
}

// LiveAgents implements metadata.Agents.
func (s *Store) LiveAgents(ctx context.Context, ttl time.Duration) ([]metadata.Agent, error) {
	return queryAll(ctx, s.r, func(row rowScanner) (metadata.Agent, error) {
		var (
			a  metadata.Agent
			hb int64
		)
		err := row.Scan(&a.NodeID, &a.Host, &a.Port, &a.Zone, &a.Instance, &hb, &a.PeerAddr, &a.Listeners, &a.Roles, &a.Group)
		a.HeartbeatAt = time.UnixMilli(hb).UTC()
		return a, err
	}, `SELECT node_id, host, port, zone, instance, heartbeat_at, peer_addr, listeners, roles, agent_group FROM agents
		WHERE heartbeat_at > ? ORDER BY node_id`, time.Now().Add(-ttl).UnixMilli())
}

// RemoveAgent implements metadata.Agents.
func (s *Store) RemoveAgent(ctx context.Context, nodeID int32, instance string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM agents WHERE node_id = ? AND instance = ?`, nodeID, instance)
	return err
}

const groupSelect = `SELECT name, owner_epoch, generation, protocol_type, protocol, state, snapshot, updated_at FROM groups`

func scanGroup(row rowScanner) (metadata.Group, error) {
	var (
		g       metadata.Group
		updated int64
	)
	if err := row.Scan(&g.Name, &g.OwnerEpoch, &g.Generation, &g.ProtocolType, &g.Protocol, &g.State, &g.Snapshot, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return g, metadata.ErrGroupNotFound
		}
		return g, err
	}
	g.UpdatedAt = time.UnixMilli(updated).UTC()
	return g, nil
}

// ClaimGroup implements metadata.Groups.
func (s *Store) ClaimGroup(ctx context.Context, group string) (metadata.Group, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return metadata.Group{}, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO groups(name, owner_epoch, generation, protocol_type, protocol, state, updated_at)
		VALUES (?, 1, 0, '', '', 'Empty', ?) ON CONFLICT(name) DO UPDATE SET owner_epoch = owner_epoch + 1`,
		group, time.Now().UnixMilli()); err != nil {
		return metadata.Group{}, err
	}
	g, err := scanGroup(tx.QueryRowContext(ctx, groupSelect+` WHERE name = ?`, group))
	if err != nil {
		return g, err
	}
	return g, tx.Commit()
}

// fenced checks, inside tx, that epoch still owns group.
func fenced(ctx context.Context, tx *sql.Tx, group string, epoch int64) error {
	var cur int64
	err := tx.QueryRowContext(ctx, `SELECT owner_epoch FROM groups WHERE name = ?`, group).Scan(&cur)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	return sequencer.CheckOwnerEpoch(group, cur, err == nil, epoch)
}

// inGroupTx runs fn in a write transaction after checking the owner epoch.
func (s *Store) inGroupTx(ctx context.Context, group string, epoch int64, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fenced(ctx, tx, group, epoch); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// SaveGroup implements metadata.Groups.
func (s *Store) SaveGroup(ctx context.Context, g metadata.Group) error {
	return s.inGroupTx(ctx, g.Name, g.OwnerEpoch, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE groups SET generation = ?, protocol_type = ?, protocol = ?, state = ?, snapshot = ?, updated_at = ?
			WHERE name = ?`, g.Generation, g.ProtocolType, g.Protocol, g.State, g.Snapshot, time.Now().UnixMilli(), g.Name)
		return err
	})
}

// Group implements metadata.Groups.
func (s *Store) Group(ctx context.Context, group string) (metadata.Group, error) {
	return scanGroup(s.r.QueryRowContext(ctx, groupSelect+` WHERE name = ?`, group))
}

// ListGroups implements metadata.Groups.
func (s *Store) ListGroups(ctx context.Context) ([]metadata.Group, error) {
	return queryAll(ctx, s.r, scanGroup, groupSelect+` ORDER BY name`)
}

// DeleteGroup implements metadata.Groups.
func (s *Store) DeleteGroup(ctx context.Context, group string, epoch int64) error {
	return s.inGroupTx(ctx, group, epoch, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM group_offsets WHERE group_name = ?`, group); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM groups WHERE name = ?`, group)
		return err
	})
}

// CommitOffsets implements metadata.Groups.
func (s *Store) CommitOffsets(ctx context.Context, group string, epoch int64, offsets []metadata.OffsetCommit) error {
	now := time.Now().UnixMilli()
	return s.inGroupTx(ctx, group, epoch, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO group_offsets(group_name, topic, partition, committed_offset, leader_epoch, metadata, committed_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(group_name, topic, partition) DO UPDATE SET
			committed_offset = excluded.committed_offset, leader_epoch = excluded.leader_epoch,
			metadata = excluded.metadata, committed_at = excluded.committed_at`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, o := range offsets {
			if _, err := st.ExecContext(ctx, group, o.Topic, o.Partition, o.Offset, o.LeaderEpoch, o.Metadata, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// FetchOffsets implements metadata.Groups.
func (s *Store) FetchOffsets(ctx context.Context, group string) ([]metadata.OffsetCommit, error) {
	return queryAll(ctx, s.r, func(row rowScanner) (metadata.OffsetCommit, error) {
		var (
			o  metadata.OffsetCommit
			at int64
		)
		err := row.Scan(&o.Topic, &o.Partition, &o.Offset, &o.LeaderEpoch, &o.Metadata, &at)
		o.CommittedAt = time.UnixMilli(at).UTC()
		return o, err
	}, `SELECT topic, partition, committed_offset, leader_epoch, metadata, committed_at
		FROM group_offsets WHERE group_name = ? ORDER BY topic, partition`, group)
}

// DeleteOffsets implements metadata.Groups.
func (s *Store) DeleteOffsets(ctx context.Context, group string, epoch int64, offsets []metadata.OffsetCommit) error {
	return s.inGroupTx(ctx, group, epoch, func(tx *sql.Tx) error {
		for _, o := range offsets {
			if _, err := tx.ExecContext(ctx, `DELETE FROM group_offsets WHERE group_name = ? AND topic = ? AND partition = ?`,
				group, o.Topic, o.Partition); err != nil {
				return err
			}
		}
		return nil
	})
}
