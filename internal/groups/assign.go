package groups

// Server-side assignors of KIP-848 consumer groups. A member picks one with
// ServerAssignor; the group uses the one most of its members ask for
// ("uniform" when none do, as Kafka's first configured assignor).
//
// Both are sticky: a partition stays with its current target owner unless
// balance requires moving it.
//
//   - uniform spreads all subscribed partitions over the members so that
//     partition counts differ by at most one where subscriptions allow it.
//     Previous targets are kept, unassigned partitions go to the least
//     loaded eligible member, then partitions move from the most to the
//     least loaded member (that subscribes to their topic) until no move
//     improves the balance. With identical subscriptions the result is
//     exactly balanced and moves the fewest partitions; with different
//     subscriptions it is balanced as far as single moves can make it.
//   - range works topic by topic: each topic's partitions are split among
//     the members subscribing to it (sorted by member ID) into quotas of
//     n/m or n/m+1. Members keep up to their quota of the partitions they
//     had; the rest are handed out in partition order, so a fresh group
//     gets contiguous ranges as with the classic range assignor, and topics
//     with equal partition counts are co-partitioned.

import (
	"sort"

	"github.com/sluicehq/sluice/internal/metadata"
)

// Assignor names.
const (
	AssignorUniform = "uniform"
	AssignorRange   = "range"
)

// validAssignor reports whether a ServerAssignor is supported.
func validAssignor(name string) bool { return name == AssignorUniform || name == AssignorRange }

// tp is one partition of a topic, by topic ID.
type tp struct {
	t metadata.TopicID
	p int32
}

// tpSet is a set of partitions.
type tpSet map[tp]struct{}

// assignMember is one member as an assignor sees it: its ID and the
// existing topics it subscribes to.
type assignMember struct {
	id     string
	topics map[string]bool
}

// assignTopic is a subscribed topic's metadata.
type assignTopic struct {
	name       string
	id         metadata.TopicID
	partitions int32
}

// assign runs the named assignor. prev is the current target (for
// stickiness); the result has an entry, maybe empty, for every member.
func assign(name string, members []assignMember, topics []assignTopic, prev map[string]tpSet) map[string]tpSet {
	sort.Slice(members, func(i, j int) bool { return members[i].id < members[j].id })
	sort.Slice(topics, func(i, j int) bool { return topics[i].name < topics[j].name })
	if name == AssignorRange {
		return assignRange(members, topics, prev)
	}
	return assignUniform(members, topics, prev)
}

func assignUniform(members []assignMember, topics []assignTopic, prev map[string]tpSet) map[string]tpSet {
	out := make(map[string]tpSet, len(members))
	for _, m := range members {
		out[m.id] = tpSet{}
	}
	if len(members) == 0 {
		return out
	}
	name := map[metadata.TopicID]string{}
	var all []tp
	for _, t := range topics {
		subscribed := false
		for _, m := range members {
			subscribed = subscribed || m.topics[t.name]
		}
		if !subscribed {
			continue
		}
		name[t.id] = t.name
		for p := int32(0); p < t.partitions; p++ {
			all = append(all, tp{t.id, p})
		}
	}
	eligible := func(i int, x tp) bool { return members[i].topics[name[x.t]] }
	owner := make(map[tp]int, len(all))
	load := make([]int, len(members))
	held := make([][]tp, len(members))
	valid := make(map[tp]bool, len(all))
	for _, x := range all {
		valid[x] = true
	}
	// 1. Keep the previous target where still valid.
	for i, m := range members {
		for _, x := range sortedTPs(prev[m.id], name) {
			if _, taken := owner[x]; taken || !valid[x] || !eligible(i, x) {
				continue
			}
			owner[x] = i
			load[i]++
			held[i] = append(held[i], x)
		}
	}
	// 2. Hand out the rest, partitions with fewer candidates first, each to
	// the least loaded candidate.
	var free []tp
	candidates := map[metadata.TopicID]int{}
	for _, x := range all {
		if _, ok := owner[x]; !ok {
			free = append(free, x)
		}
		if _, ok := candidates[x.t]; !ok {
			for i := range members {
				if eligible(i, x) {
					candidates[x.t]++
				}
			}
		}
	}
	sort.SliceStable(free, func(i, j int) bool { return candidates[free[i].t] < candidates[free[j].t] })
	for _, x := range free {
		best := -1
		for i := range members {
			if eligible(i, x) && (best < 0 || load[i] < load[best]) {
				best = i
			}
		}
		owner[x] = best
		load[best]++
		held[best] = append(held[best], x)
	}
	// 3. Move partitions from heavy to light members while a move narrows
	// the gap (each move lowers the sum of squared loads, so this ends).
	order := make([]int, len(members))
	for i := range order {
		order[i] = i
	}
	for {
		sort.SliceStable(order, func(a, b int) bool { return load[order[a]] > load[order[b]] })
		moved := false
	search:
		for hi := 0; hi < len(order); hi++ {
			h := order[hi]
			for li := len(order) - 1; li > hi; li-- {
				l := order[li]
				if load[h]-load[l] <= 1 {
					break
				}
				// Move the heavy member's last eligible partition.
				for k := len(held[h]) - 1; k >= 0; k-- {
					x := held[h][k]
					if !eligible(l, x) {
						continue
					}
					held[h] = append(held[h][:k], held[h][k+1:]...)
					held[l] = append(held[l], x)
					owner[x] = l
					load[h]--
					load[l]++
					moved = true
					break search
				}
			}
		}
		if !moved {
			break
		}
	}
	for x, i := range owner {
		out[members[i].id][x] = struct{}{}
	}
	return out
}

func assignRange(members []assignMember, topics []assignTopic, prev map[string]tpSet) map[string]tpSet {
	out := make(map[string]tpSet, len(members))
	for _, m := range members {
		out[m.id] = tpSet{}
	}
	for _, t := range topics {
		var subs []string
		for _, m := range members {
			if m.topics[t.name] {
				subs = append(subs, m.id)
			}
		}
		if len(subs) == 0 || t.partitions <= 0 {
			continue
		}
		n := int(t.partitions)
		minQ, extra := n/len(subs), n%len(subs)
		quota := make([]int, len(subs))
		taken := make([]bool, n)
		count := make([]int, len(subs))
		// Keep up to the quota of what each member had, in partition order.
		for i, id := range subs {
			var had []int
			for x := range prev[id] {
				if x.t == t.id && x.p < t.partitions && !taken[x.p] {
					had = append(had, int(x.p))
				}
			}
			sort.Ints(had)
			quota[i] = minQ
			if len(had) > minQ && extra > 0 {
				quota[i]++
				extra--
			}
			for _, p := range had[:min(len(had), quota[i])] {
				taken[p] = true
				out[id][tp{t.id, int32(p)}] = struct{}{}
				count[i]++
			}
		}
		for i := range subs {
			if extra > 0 && quota[i] == minQ {
				quota[i]++
				extra--
			}
		}
		next := 0
		for i, id := range subs {
			for count[i] < quota[i] {
				for taken[next] {
					next++
				}
				taken[next] = true
				out[id][tp{t.id, int32(next)}] = struct{}{}
				count[i]++
			}
		}
	}
	return out
}

// sortedTPs returns s's partitions ordered by topic name (then ID) and
// partition.
func sortedTPs(s tpSet, name map[metadata.TopicID]string) []tp {
	out := make([]tp, 0, len(s))
	for x := range s {
		out = append(out, x)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.t != b.t {
			if na, nb := name[a.t], name[b.t]; na != nb {
				return na < nb
			}
			return a.t.String() < b.t.String()
		}
		return a.p < b.p
	})
	return out
}
