package kafka

import (
	"slices"
	"testing"

	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/metadata"
)

// TestTopicMetadataSharesReplicaLists checks that the replica lists a
// Metadata response shares between partitions are the ones
// cluster.Leader and cluster.Replicas give each partition, for clusters
// of 1 to 5 agents.
func TestTopicMetadataSharesReplicaLists(t *testing.T) {
	s := &Server{}
	for nb := 1; nb <= 5; nb++ {
		var brokers []cluster.Broker
		for i := range nb {
			brokers = append(brokers, cluster.Broker{NodeID: int32(10 + i*3)})
		}
		reps := newReplicaSets(brokers)
		for k := range 20 {
			tp := metadata.Topic{Name: "t", Partitions: int32(k % 9)}
			tp.ID[0], tp.ID[7] = byte(k), byte(k*31)
			mt := s.topicMetadata(tp, reps)
			if len(mt.Partitions) != int(tp.Partitions) {
				t.Fatalf("%d brokers: %d partitions, want %d", nb, len(mt.Partitions), tp.Partitions)
			}
			th := topicHash(tp.ID)
			for p, mp := range mt.Partitions {
				want := cluster.Replicas(brokers, th, int32(p))
				if mp.Partition != int32(p) || mp.Leader != cluster.Leader(brokers, th, int32(p)).NodeID ||
					!slices.Equal(mp.Replicas, want) || !slices.Equal(mp.ISR, want) || mp.Leader != want[0] {
					t.Fatalf("%d brokers, topic %d, partition %d: %+v; want leader %d, replicas %v", nb, k, p, mp, cluster.Leader(brokers, th, int32(p)).NodeID, want)
				}
			}
		}
	}
}
