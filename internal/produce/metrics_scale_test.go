package produce

import (
	"testing"

	"github.com/sluicehq/sluice/internal/metadata"
)

func TestCommitSizeClass(t *testing.T) {
	for n, want := range map[int]string{1: "1-9", 9: "1-9", 10: "10-99", 99: "10-99", 100: "100-999", 999: "100-999", 1000: "1000+", 100000: "1000+"} {
		if got := commitSizeClass(n); got != want {
			t.Errorf("commitSizeClass(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDistinctPartitions(t *testing.T) {
	a, b := metadata.TopicID{1}, metadata.TopicID{2}
	commits := []metadata.BatchCommit{
		{TopicID: a, Partition: 0}, {TopicID: b, Partition: 0}, {TopicID: a, Partition: 0},
		{TopicID: a, Partition: 1}, {TopicID: b, Partition: 0},
	}
	if got := distinctPartitions(commits); got != 3 {
		t.Errorf("distinctPartitions = %d, want 3", got)
	}
	if got := distinctPartitions(commits[:1]); got != 1 {
		t.Errorf("one commit: %d partitions, want 1", got)
	}
	if got := distinctPartitions(nil); got != 0 {
		t.Errorf("no commits: %d partitions, want 0", got)
	}
}
