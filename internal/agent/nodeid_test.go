package agent

import "testing"

func TestAutoNodeID(t *testing.T) {
	seen := map[int32]string{}
	for _, addr := range []string{"10.0.0.1:9092", "10.0.0.2:9092", "10.0.0.1:9093", "sluice-0.sluice:9092"} {
		id := AutoNodeID(addr)
		if id < 1<<20 || id < 0 {
			t.Fatalf("AutoNodeID(%s) = %d, outside [2^20, 2^31)", addr, id)
		}
		if id != AutoNodeID(addr) {
			t.Fatalf("AutoNodeID(%s) is not stable", addr)
		}
		if other, ok := seen[id]; ok {
			t.Fatalf("%s and %s share node ID %d", addr, other, id)
		}
		seen[id] = addr
	}
}
