package groups

// Tests of the KIP-848 server-side assignors (assign.go).

import (
	"fmt"
	"sort"
	"testing"

	"github.com/sluicehq/sluice/internal/metadata"
)

func topicID(n byte) metadata.TopicID { return metadata.TopicID{n} }

func homogeneous(n int, topics ...string) []assignMember {
	var ms []assignMember
	for i := 0; i < n; i++ {
		set := map[string]bool{}
		for _, t := range topics {
			set[t] = true
		}
		ms = append(ms, assignMember{id: fmt.Sprintf("m%02d", i), topics: set})
	}
	return ms
}

// checkAssignment verifies every partition of a subscribed topic is
// assigned exactly once, to a member subscribing to it.
func checkAssignment(t *testing.T, members []assignMember, topics []assignTopic, got map[string]tpSet) {
	t.Helper()
	owner := map[tp]string{}
	sub := map[string]map[string]bool{}
	for _, m := range members {
		sub[m.id] = m.topics
	}
	name := map[metadata.TopicID]string{}
	for _, tt := range topics {
		name[tt.id] = tt.name
	}
	for id, s := range got {
		for x := range s {
			if o, dup := owner[x]; dup {
				t.Fatalf("partition %v assigned to %s and %s", x, o, id)
			}
			owner[x] = id
			if !sub[id][name[x.t]] {
				t.Fatalf("partition %v of %s assigned to %s, which does not subscribe to it", x, name[x.t], id)
			}
		}
	}
	for _, tt := range topics {
		subscribed := false
		for _, m := range members {
			subscribed = subscribed || m.topics[tt.name]
		}
		for p := int32(0); p < tt.partitions && subscribed; p++ {
			if _, ok := owner[tp{tt.id, p}]; !ok {
				t.Fatalf("partition %s/%d not assigned", tt.name, p)
			}
		}
	}
}

func loads(got map[string]tpSet) (lo, hi int) {
	lo = 1 << 30
	for _, s := range got {
		lo, hi = min(lo, len(s)), max(hi, len(s))
	}
	return lo, hi
}

func moved(prev, next map[string]tpSet) int {
	n := 0
	for id, s := range next {
		for x := range s {
			if _, ok := prev[id][x]; !ok {
				n++
			}
		}
	}
	return n
}

func TestAssignUniformBalancedAndSticky(t *testing.T) {
	topics := []assignTopic{{name: "a", id: topicID(1), partitions: 7}, {name: "b", id: topicID(2), partitions: 10}, {name: "c", id: topicID(3), partitions: 1}}
	total := 18
	var prev map[string]tpSet
	for n := 1; n <= 8; n++ {
		members := homogeneous(n, "a", "b", "c")
		got := assign(AssignorUniform, members, topics, prev)
		checkAssignment(t, members, topics, got)
		if lo, hi := loads(got); hi-lo > 1 {
			t.Fatalf("%d members: loads %d..%d not balanced", n, lo, hi)
		}
		if prev != nil {
			// A joining member takes only its share; nobody else moves.
			if m, want := moved(prev, got), total/n; m != want {
				t.Fatalf("%d members: %d partitions moved, want %d (the new member's share)", n, m, want)
			}
		}
		prev = got
	}
	// Members leave one by one: survivors keep everything they had.
	for n := 7; n >= 1; n-- {
		members := homogeneous(n, "a", "b", "c")
		got := assign(AssignorUniform, members, topics, prev)
		checkAssignment(t, members, topics, got)
		if lo, hi := loads(got); hi-lo > 1 {
			t.Fatalf("%d members after leave: loads %d..%d", n, lo, hi)
		}
		for id, s := range got {
			for x := range prev[id] {
				if _, ok := s[x]; !ok && len(prev[id]) <= len(s) {
					t.Fatalf("%d members after leave: %s lost %v although its load did not shrink", n, id, x)
				}
			}
		}
		prev = got
	}
}

func TestAssignUniformHeterogeneous(t *testing.T) {
	topics := []assignTopic{{name: "a", id: topicID(1), partitions: 6}, {name: "b", id: topicID(2), partitions: 6}, {name: "x", id: topicID(9), partitions: 3}}
	members := []assignMember{
		{id: "m1", topics: map[string]bool{"a": true}},
		{id: "m2", topics: map[string]bool{"a": true, "b": true}},
		{id: "m3", topics: map[string]bool{"b": true}},
		{id: "m4", topics: map[string]bool{"a": true, "b": true}},
	}
	got := assign(AssignorUniform, members, topics, nil)
	checkAssignment(t, members, topics, got)
	if lo, hi := loads(got); lo != 3 || hi != 3 {
		t.Fatalf("loads %d..%d, want 3 each (12 partitions over 4 members)", lo, hi)
	}
	for _, s := range got {
		for x := range s {
			if x.t == topicID(9) {
				t.Fatal("unsubscribed topic x was assigned")
			}
		}
	}
	// Same input, same answer.
	again := assign(AssignorUniform, members, topics, got)
	if moved(got, again) != 0 {
		t.Fatal("recomputing an unchanged group moved partitions")
	}
}

func TestAssignRange(t *testing.T) {
	topics := []assignTopic{{name: "a", id: topicID(1), partitions: 5}, {name: "b", id: topicID(2), partitions: 5}}
	members := homogeneous(2, "a", "b")
	got := assign(AssignorRange, members, topics, nil)
	checkAssignment(t, members, topics, got)
	want := map[string][]int32{"m00": {0, 1, 2}, "m01": {3, 4}}
	for id, ps := range want {
		for _, tid := range []metadata.TopicID{topicID(1), topicID(2)} {
			var have []int32
			for x := range got[id] {
				if x.t == tid {
					have = append(have, x.p)
				}
			}
			sort.Slice(have, func(i, j int) bool { return have[i] < have[j] })
			if fmt.Sprint(have) != fmt.Sprint(ps) {
				t.Fatalf("%s topic %v: %v, want contiguous %v (co-partitioned)", id, tid, have, ps)
			}
		}
	}
	// A third member: per topic quotas 2,2,1; existing members keep
	// partitions within their quota.
	members3 := homogeneous(3, "a", "b")
	got3 := assign(AssignorRange, members3, topics, got)
	checkAssignment(t, members3, topics, got3)
	for id, s := range got3 {
		perTopic := map[metadata.TopicID]int{}
		for x := range s {
			perTopic[x.t]++
			if id != "m02" {
				if _, had := got[id][x]; !had {
					t.Fatalf("%s gained %v while it had more than its quota before", id, x)
				}
			}
		}
		for tid, n := range perTopic {
			if n < 1 || n > 2 {
				t.Fatalf("%s has %d partitions of %v, want 1 or 2", id, n, tid)
			}
		}
	}
	// Members subscribing to different topics only get those.
	het := []assignMember{{id: "x", topics: map[string]bool{"a": true}}, {id: "y", topics: map[string]bool{"b": true}}}
	gotHet := assign(AssignorRange, het, topics, nil)
	checkAssignment(t, het, topics, gotHet)
	if len(gotHet["x"]) != 5 || len(gotHet["y"]) != 5 {
		t.Fatalf("heterogeneous range: %d and %d partitions, want 5 and 5", len(gotHet["x"]), len(gotHet["y"]))
	}
}
