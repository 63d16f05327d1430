package metadatatest

import (
	"context"
	"errors"
	"testing"

	"github.com/sluicehq/sluice/internal/metadata"
)

func testAlterTopicConfigs(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, "cfg", 1) // retention.ms=1000
	got, err := s.AlterTopicConfigs(ctx, "cfg", func(cur map[string]string) (map[string]string, error) {
		if cur["retention.ms"] != "1000" || len(cur) != 1 {
			t.Errorf("fn got %v, want the created configs", cur)
		}
		cur["cleanup.policy"] = "compact"
		delete(cur, "retention.ms")
		return cur, nil
	})
	if err != nil || got.ID != a.ID || got.Configs["cleanup.policy"] != "compact" || len(got.Configs) != 1 {
		t.Fatalf("AlterTopicConfigs = %+v, %v", got, err)
	}
	read, err := s.Topic(ctx, "cfg")
	if err != nil || read.Configs["cleanup.policy"] != "compact" || len(read.Configs) != 1 || read.Partitions != 1 {
		t.Fatalf("Topic after alter = %+v, %v", read, err)
	}
	// An error from fn changes nothing and comes back.
	boom := errors.New("boom")
	if _, err := s.AlterTopicConfigs(ctx, "cfg", func(map[string]string) (map[string]string, error) {
		return map[string]string{"x": "y"}, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("AlterTopicConfigs with failing fn = %v, want boom", err)
	}
	read, _ = s.Topic(ctx, "cfg")
	if len(read.Configs) != 1 || read.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("configs after failed alter = %v", read.Configs)
	}
	// Clearing everything leaves an empty (not nil) map.
	if _, err := s.AlterTopicConfigs(ctx, "cfg", func(map[string]string) (map[string]string, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	read, _ = s.Topic(ctx, "cfg")
	if read.Configs == nil || len(read.Configs) != 0 {
		t.Fatalf("configs after clearing = %#v", read.Configs)
	}
	if _, err := s.AlterTopicConfigs(ctx, "missing", func(c map[string]string) (map[string]string, error) { return c, nil }); !errors.Is(err, metadata.ErrUnknownTopic) {
		t.Fatalf("AlterTopicConfigs(missing) = %v, want ErrUnknownTopic", err)
	}
}

func testAddPartitions(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, "grow", 2)
	commit(t, s, "f1", metadata.BatchCommit{TopicID: a.ID, Partition: 1, ByteOffset: 8, ByteLength: 10, Records: 3})
	for _, n := range []int32{2, 1} {
		if _, err := s.AddPartitions(ctx, "grow", n); !errors.Is(err, metadata.ErrPartitionCount) {
			t.Fatalf("AddPartitions(%d) on 2 partitions = %v, want ErrPartitionCount", n, err)
		}
	}
	got, err := s.AddPartitions(ctx, "grow", 5)
	if err != nil || got.Partitions != 5 || got.ID != a.ID || got.Configs["retention.ms"] != "1000" {
		t.Fatalf("AddPartitions(5) = %+v, %v", got, err)
	}
	read, err := s.Topic(ctx, "grow")
	if err != nil || read.Partitions != 5 {
		t.Fatalf("Topic after AddPartitions = %+v, %v", read, err)
	}
	// Old partitions keep their logs; new ones start empty and take commits.
	if st, err := s.PartitionState(ctx, a.ID, 1); err != nil || st.HighWatermark != 3 {
		t.Fatalf("old partition state = %+v, %v", st, err)
	}
	for p := int32(2); p < 5; p++ {
		if st, err := s.PartitionState(ctx, a.ID, p); err != nil || st != (metadata.PartitionState{}) {
			t.Fatalf("new partition %d state = %+v, %v", p, st, err)
		}
	}
	res := commit(t, s, "f2", metadata.BatchCommit{TopicID: a.ID, Partition: 4, ByteOffset: 8, ByteLength: 10, Records: 2})
	if res[0].Err != nil || res[0].BaseOffset != 0 {
		t.Fatalf("commit to new partition = %+v", res[0])
	}
	if _, err := s.PartitionState(ctx, a.ID, 5); !errors.Is(err, metadata.ErrUnknownPartition) {
		t.Fatalf("PartitionState(5) = %v", err)
	}
	if _, err := s.AddPartitions(ctx, "missing", 3); !errors.Is(err, metadata.ErrUnknownTopic) {
		t.Fatalf("AddPartitions(missing) = %v, want ErrUnknownTopic", err)
	}
}

func testPartitionBytes(t *testing.T, s metadata.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, "sized", 3)
	b := mustCreate(t, s, "other", 1)
	got, err := s.PartitionBytes(ctx, a.ID)
	if err != nil || len(got) != 0 {
		t.Fatalf("PartitionBytes of an empty topic = %v, %v", got, err)
	}
	commit(t, s, "f1",
		metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 100, Records: 1},
		metadata.BatchCommit{TopicID: a.ID, Partition: 2, ByteOffset: 108, ByteLength: 7, Records: 1},
		metadata.BatchCommit{TopicID: b.ID, Partition: 0, ByteOffset: 115, ByteLength: 1000, Records: 1},
	)
	commit(t, s, "f2", metadata.BatchCommit{TopicID: a.ID, Partition: 0, ByteOffset: 8, ByteLength: 50, Records: 1})
	got, err = s.PartitionBytes(ctx, a.ID)
	if err != nil || len(got) != 2 || got[0] != 150 || got[2] != 7 {
		t.Fatalf("PartitionBytes = %v, %v; want map[0:150 2:7]", got, err)
	}
}
