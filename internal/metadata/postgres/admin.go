package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/rowscan"
)

// AlterTopicConfigs implements metadata.Topics. The topic row is locked
// for the read-modify-write, so concurrent alterations serialise.
func (s *Store) AlterTopicConfigs(ctx context.Context, name string, fn func(map[string]string) (map[string]string, error)) (metadata.Topic, error) {
	var t metadata.Topic
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		t, err = scanTopic(tx.QueryRow(ctx, topicSelect+` WHERE name = $1 FOR UPDATE`, name))
		if err != nil {
			return err
		}
		next, err := fn(t.Configs)
		if err != nil {
			return err
		}
		if next == nil {
			next = map[string]string{}
		}
		if _, err := tx.Exec(ctx, `UPDATE topics SET configs = $1 WHERE id = $2`, next, [16]byte(t.ID)); err != nil {
			return err
		}
		t.Configs = next
		return nil
	})
	if err != nil {
		return metadata.Topic{}, err
	}
	return t, nil
}

// AddPartitions implements metadata.Topics. The topic row is locked, so
// concurrent increases serialise and the count only grows.
func (s *Store) AddPartitions(ctx context.Context, name string, count int32) (metadata.Topic, error) {
	var t metadata.Topic
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		t, err = scanTopic(tx.QueryRow(ctx, topicSelect+` WHERE name = $1 FOR UPDATE`, name))
		if err != nil {
			return err
		}
		if count <= t.Partitions {
			return fmt.Errorf("%w: topic %s has %d partitions, %d requested", metadata.ErrPartitionCount, name, t.Partitions, count)
		}
		id := [16]byte(t.ID)
		if _, err := tx.Exec(ctx, `INSERT INTO partitions(topic_id, partition) SELECT $1, p FROM generate_series($2::integer, $3::integer - 1) AS p`,
			id, t.Partitions, count); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE topics SET partitions = $1 WHERE id = $2`, count, id); err != nil {
			return err
		}
		t.Partitions = count
		return nil
	})
	if err != nil {
		return metadata.Topic{}, err
	}
	return t, nil
}

// PartitionBytes implements metadata.Log.
func (s *Store) PartitionBytes(ctx context.Context, topic metadata.TopicID) (map[int32]int64, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT partition, sum(byte_length)::bigint FROM extents WHERE topic_id = $1 GROUP BY partition`, [16]byte(topic))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rowscan.Map[int32, int64](rows)
}
