package metadata

import (
	"slices"
	"strings"
	"testing"
)

func TestCommitNoticeRoundTrip(t *testing.T) {
	parts := []TopicPartition{{Topic: TopicID{1, 2, 3}, Partition: 0}, {Topic: TopicID{0xff}, Partition: 41}}
	got := DecodeCommitNotice(EncodeCommitNotice(parts))
	if !slices.Equal(got, parts) {
		t.Fatalf("round trip: %v, want %v", got, parts)
	}
	// Too many partitions for one NOTIFY: the payload says "unknown".
	many := make([]TopicPartition, 1000)
	if p := EncodeCommitNotice(many); p != "" {
		t.Errorf("1000 partitions encoded to %d bytes, want the empty payload", len(p))
	}
	for _, bad := range []string{"", "x", "AAAA:1", strings.Repeat("A", 22) + ":x", strings.Repeat("A", 22)} {
		if got := DecodeCommitNotice(bad); got != nil {
			t.Errorf("DecodeCommitNotice(%q) = %v, want nil (every waiter looks)", bad, got)
		}
	}
	if got := DecodeCommitNotice(EncodeCommitNotice(nil)); got != nil {
		t.Errorf("no partitions decode to %v, want nil", got)
	}
}

// FuzzDecodeCommitNotice: any payload decodes without panicking, and what
// decodes encodes back to a payload that decodes the same.
func FuzzDecodeCommitNotice(f *testing.F) {
	f.Add(EncodeCommitNotice([]TopicPartition{{Topic: TopicID{1}, Partition: 3}}))
	f.Add("")
	f.Add(",")
	f.Fuzz(func(t *testing.T, payload string) {
		parts := DecodeCommitNotice(payload)
		if parts == nil {
			return
		}
		if again := DecodeCommitNotice(EncodeCommitNotice(parts)); !slices.Equal(again, parts) {
			t.Fatalf("%q decoded to %v, which round-trips to %v", payload, parts, again)
		}
	})
}
