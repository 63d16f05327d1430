package topics

import (
	"errors"
	"strings"
	"testing"
)

// TestConfigTable: every config has a status and documentation, and its
// default passes its own validation.
func TestConfigTable(t *testing.T) {
	for _, c := range Configs() {
		switch c.Support {
		case Honoured, NotYet, NotApplied, NoEffect:
		default:
			t.Errorf("%s: support %q", c.Name, c.Support)
		}
		if c.Doc == "" || !strings.HasSuffix(c.Documentation(), "(Sluice: "+string(c.Support)+".)") {
			t.Errorf("%s: documentation %q", c.Name, c.Documentation())
		}
		if err := ValidateConfig(c.Name, c.Default); err != nil {
			t.Errorf("%s: default %q is invalid: %v", c.Name, c.Default, err)
		}
	}
}

// TestValidateConfig checks values against Kafka's validators (LogConfig,
// CompressionType, ThrottledReplicaListValidator).
func TestValidateConfig(t *testing.T) {
	for _, c := range []struct {
		name, value string
		ok          bool
	}{
		{"retention.ms", "-1", true},
		{"retention.ms", "-2", false},
		{"retention.ms", "abc", false},
		{"retention.bytes", "-5", true}, // Kafka has no lower bound
		{"retention.bytes", "1.5", false},
		{"segment.bytes", "1048576", true},
		{"segment.bytes", "1048575", true}, // below Kafka 4.x's minimum, accepted as Kafka 3.x does
		{"segment.bytes", "14", true},
		{"segment.bytes", "13", false}, // Kafka 3.x's minimum (a legacy record's overhead)
		{"segment.bytes", "2147483648", false},
		{"segment.ms", "0", false},
		{"min.insync.replicas", "0", false},
		{"min.insync.replicas", "2", true},
		{"unclean.leader.election.enable", "TRUE", true},
		{"unclean.leader.election.enable", "yes", false},
		{"preallocate", "true", true},
		{"min.cleanable.dirty.ratio", "1.01", false},
		{"min.cleanable.dirty.ratio", "0.9", true},
		{"cleanup.policy", "compact,delete", true},
		{"cleanup.policy", "compact,archive", false},
		{"compression.type", "zstd", true},
		{"compression.type", "brotli", false},
		{"compression.gzip.level", "-1", true},
		{"compression.gzip.level", "0", false},
		{"compression.gzip.level", "9", true},
		{"compression.lz4.level", "18", false},
		{"compression.zstd.level", "-131072", true},
		{"compression.zstd.level", "23", false},
		{"leader.replication.throttled.replicas", "*", true},
		{"leader.replication.throttled.replicas", "0:1,1:2", true},
		{"follower.replication.throttled.replicas", "", true},
		{"follower.replication.throttled.replicas", "0:x", false},
		{"follower.replication.throttled.replicas", "*,0:1", false},
		{"message.format.version", "2.8", true},
		{"message.format.version", "3.0-IV1", true},
		{"message.format.version", "0.10.2", true},
		{"message.format.version", "banana", false},
		{"message.timestamp.type", "LogAppendTime", true},
		{"message.timestamp.type", "logappendtime", false},
		{"message.timestamp.before.max.ms", "-1", false},
		{"local.retention.ms", "-2", true},
		{"local.retention.ms", "-3", false},
		{"remote.log.copy.disable", "false", true},
		{"flush.messages", "0", false},
		{"no.such.config", "1", false},
	} {
		err := ValidateConfig(c.name, c.value)
		if (err == nil) != c.ok {
			t.Errorf("%s=%q: %v, want ok=%v", c.name, c.value, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s=%q: %v is not ErrInvalidConfig", c.name, c.value, err)
		}
	}
}

func TestValidateConfigs(t *testing.T) {
	if err := ValidateConfigs(map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("min lag above max lag: %v", err)
	}
	if err := ValidateConfigs(map[string]string{"min.compaction.lag.ms": "10"}); err != nil {
		t.Fatalf("min lag below the default max: %v", err)
	}
	if err := ValidateConfigs(nil); err != nil {
		t.Fatal(err)
	}
}
