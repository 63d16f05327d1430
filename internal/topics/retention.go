package topics

import (
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/metadata"
)

// Cleanup is a topic's effective retention and compaction settings, read
// through the topic config defaults (Value).
type Cleanup struct {
	// Delete and Compact reflect cleanup.policy (delete, compact, or both).
	Delete, Compact bool
	// RetentionMs and RetentionBytes are -1 for unlimited.
	RetentionMs    int64
	RetentionBytes int64
	// DeleteRetentionMs is how long tombstones survive key compaction.
	DeleteRetentionMs int64
	// MinCompactionLagMs is how old a record must be (by commit time)
	// before key compaction may remove it.
	MinCompactionLagMs int64
	// MinCleanableDirtyRatio is the share of not yet compacted bytes that
	// triggers key compaction.
	MinCleanableDirtyRatio float64
}

// CleanupOf resolves t's cleanup settings. Values that fail to parse (the
// store only holds validated configs) fall back to keeping data.
func CleanupOf(t metadata.Topic) Cleanup {
	c := Cleanup{
		RetentionMs:        longValue(t.Configs, "retention.ms", -1),
		RetentionBytes:     longValue(t.Configs, "retention.bytes", -1),
		DeleteRetentionMs:  longValue(t.Configs, "delete.retention.ms", 86400000),
		MinCompactionLagMs: longValue(t.Configs, "min.compaction.lag.ms", 0),
	}
	if r, err := strconv.ParseFloat(strings.TrimSpace(Value(t.Configs, "min.cleanable.dirty.ratio")), 64); err == nil && r >= 0 && r <= 1 {
		c.MinCleanableDirtyRatio = r
	} else {
		c.MinCleanableDirtyRatio = 0.5
	}
	for _, p := range strings.Split(Value(t.Configs, "cleanup.policy"), ",") {
		switch strings.TrimSpace(p) {
		case "delete":
			c.Delete = true
		case "compact":
			c.Compact = true
		}
	}
	return c
}

func longValue(set map[string]string, name string, fallback int64) int64 {
	v, err := strconv.ParseInt(strings.TrimSpace(Value(set, name)), 10, 64)
	if err != nil {
		return fallback
	}
	return v
}
