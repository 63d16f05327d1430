package history

import (
	"fmt"
	"sort"
	"strings"
)

// Dependency cycles between transactions, after Adya (and Elle):
//
//   - ww: T1 and T2 both wrote partition p, T1's write at a lower offset,
//     with no other committed writer between them;
//   - wr: T2 read (at read_committed, in the poll feeding T2) a write of T1.
//
// Each committed transaction is a node, and so is each write made outside
// a transaction (each copy of it, for a producer that duplicates). Writes
// of aborted transactions are not in the log's committed order and are
// left out. A cycle of ww edges only is G0; a cycle with a wr edge is G1c.
//
// Kafka does not order concurrent transactions: two transactions writing
// the same two partitions at once may interleave either way in each, so
// G0 and G1c (through such ww edges) are allowed and reported apart. What
// no Kafka allows is order against real time. A write that completed (its
// acknowledgement, or its transaction's commit, returned) before another
// write was sent must sit at a lower offset of a partition both wrote
// (WriteOrder), and a cycle through wr edges and ww edges between writers
// that did not overlap in time (RealtimeCycle) is impossible, because each
// such edge agrees with the order in which things happened.

type edgeKind uint8

const (
	ww edgeKind = iota
	wr
)

func (k edgeKind) String() string {
	if k == ww {
		return "ww"
	}
	return "wr"
}

type edge struct {
	from int
	to   int
	kind edgeKind
	// where names the partition/offsets that gave the edge.
	where string
}

type graph struct {
	names []string
	// start and end bound each node in history sequence numbers: its
	// first send (or poll), and the return of its acknowledgement or
	// commit (notEnded when unknown).
	start, end []int64
	id         map[string]int
	out        [][]edge
	seen       map[[3]int]bool
}

func (g *graph) node(name string) int {
	if i, ok := g.id[name]; ok {
		return i
	}
	g.id[name] = len(g.names)
	g.names = append(g.names, name)
	g.out = append(g.out, nil)
	g.start = append(g.start, notEnded)
	g.end = append(g.end, notEnded)
	return len(g.names) - 1
}

const notEnded = int64(1<<63 - 1)

// apart reports whether nodes a and b did not overlap in time.
func (g *graph) apart(a, b int) bool { return g.end[a] < g.start[b] || g.end[b] < g.start[a] }

func (g *graph) link(from, to int, kind edgeKind, where string) {
	if from == to {
		return
	}
	k := [3]int{from, to, int(kind)}
	if g.seen[k] {
		return
	}
	g.seen[k] = true
	g.out[from] = append(g.out[from], edge{from: from, to: to, kind: kind, where: where})
}

// writer names the node of a committed value, "" when the value is not
// part of the committed order.
func (c *checker) writer(value string, at tpo) string {
	sd := c.send[value]
	if sd == nil || !c.committed(value) {
		return ""
	}
	if sd.Txn == "" {
		return "write " + value + " at " + at.String()
	}
	return "txn " + sd.Txn
}

// times gives every node its start and end.
func (c *checker) times(g *graph) {
	txnStart := map[string]int64{}
	first := func(txn string, seq int64) {
		if s, ok := txnStart[txn]; !ok || seq < s {
			txnStart[txn] = seq
		}
	}
	for _, sd := range c.h.Sends {
		if sd.Txn != "" {
			first(sd.Txn, sd.Seq)
		}
	}
	for _, p := range c.h.Polls {
		if p.Txn != "" {
			first(p.Txn, p.Seq)
		}
	}
	txnEnd := map[string]int64{}
	for _, t := range c.h.Txns {
		if t.Outcome == Committed {
			txnEnd[t.Txn] = t.Seq
		}
	}
	acked := map[string]int64{}
	for _, a := range c.h.Acks {
		acked[a.Value] = a.Seq
	}
	for name, i := range g.id {
		if txn, ok := strings.CutPrefix(name, "txn "); ok {
			g.start[i] = txnStart[txn]
			if e, ok := txnEnd[txn]; ok {
				g.end[i] = e
			}
			continue
		}
		v, _, _ := strings.Cut(strings.TrimPrefix(name, "write "), " at ")
		g.start[i] = c.send[v].Seq
		if e, ok := acked[v]; ok {
			g.end[i] = e
		}
	}
}

func (c *checker) cycles() {
	g := &graph{id: map[string]int{}, seen: map[[3]int]bool{}}
	tps := make([]TP, 0, len(c.offsets))
	for tp := range c.offsets {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
	type placed struct {
		node int
		off  int64
	}
	logs := map[TP][]placed{}
	for _, tp := range tps {
		for _, off := range c.offsets[tp] {
			vals := c.at[tp][off]
			if len(vals) != 1 {
				continue // inconsistent: already reported, no single order
			}
			if w := c.writer(vals[0], tpo{tp, off}); w != "" {
				logs[tp] = append(logs[tp], placed{g.node(w), off})
			}
		}
	}
	for _, p := range c.h.Polls {
		if p.Txn == "" || !c.h.Consumers[p.Consumer].ReadCommitted || c.outcome[p.Txn] != Committed {
			continue
		}
		reader := g.node("txn " + p.Txn)
		for _, rec := range p.Records {
			if w := c.writer(rec.Value, tpo{rec.TP, rec.Offset}); w != "" {
				g.link(g.node(w), reader, wr, fmt.Sprintf("read %q at %s/%d@%d", rec.Value, rec.TP.Topic, rec.TP.Partition, rec.Offset))
			}
		}
	}
	c.times(g)
	for _, tp := range tps {
		log := logs[tp]
		for i := 1; i < len(log); i++ {
			if log[i-1].node != log[i].node {
				g.link(log[i-1].node, log[i].node, ww, fmt.Sprintf("%s/%d offsets %d<%d", tp.Topic, tp.Partition, log[i-1].off, log[i].off))
			}
		}
	}
	c.writeOrder(tps)

	for _, scc := range g.sccs(func(edge) bool { return true }) {
		in := map[int]bool{}
		for _, n := range scc {
			in[n] = true
		}
		class := G1c
		wwOnly := func(e edge) bool { return e.kind == ww && in[e.to] }
		for _, sub := range g.sccsOf(scc, wwOnly) {
			if len(sub) > 1 {
				class = G0
				scc = sub
				break
			}
		}
		allow := func(e edge) bool { return in[e.to] }
		if class == G0 {
			allow = wwOnly
		}
		c.r.add(class, "%d transactions in a cycle: %s", len(scc), g.describeCycle(scc, allow))
	}
	strict := func(e edge) bool { return e.kind == wr || g.apart(e.from, e.to) }
	for _, scc := range g.sccs(strict) {
		in := map[int]bool{}
		for _, n := range scc {
			in[n] = true
		}
		c.r.add(RealtimeCycle, "%d transactions in a cycle: %s", len(scc),
			g.describeCycle(scc, func(e edge) bool { return in[e.to] && strict(e) }))
	}
}

// writeOrder checks each partition's offsets against real time, write by
// write (aborted and unresolved writes too: they take offsets as well): a
// write acknowledged before another was sent must sit at a lower offset.
// Only the copy the acknowledgement names is bound: another copy of the
// value (a non-idempotent producer's earlier attempt, answered with an
// error but stored later) completed at no known time. An idempotent or
// transactional producer's second copy is a Duplicate already.
func (c *checker) writeOrder(tps []TP) {
	type ackAt struct {
		seq int64
		tp  TP
		off int64
	}
	acked := map[string]ackAt{}
	for _, a := range c.h.Acks {
		acked[a.Value] = ackAt{a.Seq, a.TP, a.Offset}
	}
	for _, tp := range tps {
		latest, latestStart, latestOff := "", int64(-1), int64(0)
		for _, off := range c.offsets[tp] {
			vals := c.at[tp][off]
			if len(vals) != 1 || c.send[vals[0]] == nil {
				continue
			}
			v := vals[0]
			start := c.send[v].Seq
			if a, ok := acked[v]; ok && a.tp == tp && a.off == off && latest != "" && a.seq < latestStart {
				c.r.add(WriteOrder, "%q was acknowledged before %q was sent, yet sits after it in %s/%d (offsets %d > %d)",
					v, latest, tp.Topic, tp.Partition, off, latestOff)
			}
			if start > latestStart {
				latest, latestStart, latestOff = v, start, off
			}
		}
	}
}

// sccs returns the strongly connected components of more than one node,
// following edges that keep says to.
func (g *graph) sccs(keep func(edge) bool) [][]int {
	all := make([]int, len(g.names))
	for i := range all {
		all[i] = i
	}
	return g.sccsOf(all, keep)
}

// sccsOf is Tarjan's algorithm over nodes (iterative: partitions give
// chains as long as the log).
func (g *graph) sccsOf(nodes []int, keep func(edge) bool) [][]int {
	member := map[int]bool{}
	for _, n := range nodes {
		member[n] = true
	}
	index := map[int]int{}
	low := map[int]int{}
	onStack := map[int]bool{}
	var stack []int
	var out [][]int
	next := 0
	type frame struct {
		n, e int
	}
	for _, root := range nodes {
		if _, ok := index[root]; ok {
			continue
		}
		call := []frame{{root, 0}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			if f.e < len(g.out[f.n]) {
				e := g.out[f.n][f.e]
				f.e++
				if !member[e.to] || !keep(e) {
					continue
				}
				if _, ok := index[e.to]; !ok {
					index[e.to], low[e.to] = next, next
					next++
					stack = append(stack, e.to)
					onStack[e.to] = true
					call = append(call, frame{e.to, 0})
				} else if onStack[e.to] && index[e.to] < low[f.n] {
					low[f.n] = index[e.to]
				}
				continue
			}
			n := f.n
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := call[len(call)-1].n
				if low[n] < low[p] {
					low[p] = low[n]
				}
			}
			if low[n] == index[n] {
				var comp []int
				for {
					m := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[m] = false
					comp = append(comp, m)
					if m == n {
						break
					}
				}
				if len(comp) > 1 {
					sort.Ints(comp)
					out = append(out, comp)
				}
			}
		}
	}
	return out
}

// describeCycle finds one cycle through the component's first node (BFS
// back to it) and prints it with the edges' evidence.
func (g *graph) describeCycle(scc []int, allow func(edge) bool) string {
	start := scc[0]
	type step struct {
		from int
		e    edge
	}
	prev := map[int]step{}
	queue := []int{start}
	visited := map[int]bool{start: true}
	found := false
	for len(queue) > 0 && !found {
		n := queue[0]
		queue = queue[1:]
		for _, e := range g.out[n] {
			if !allow(e) {
				continue
			}
			if e.to == start {
				prev[-1] = step{n, e}
				found = true
				break
			}
			if !visited[e.to] {
				visited[e.to] = true
				prev[e.to] = step{n, e}
				queue = append(queue, e.to)
			}
		}
	}
	if !found {
		return "(no cycle path found)"
	}
	var parts []string
	s := prev[-1]
	for {
		parts = append(parts, fmt.Sprintf("%s -%s[%s]->", g.names[s.from], s.e.kind, s.e.where))
		if s.from == start {
			break
		}
		s = prev[s.from]
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	if n := len(parts); n > 12 {
		parts = append(append(parts[:6:6], fmt.Sprintf("… %d steps …", n-11)), parts[n-5:]...)
	}
	return strings.Join(parts, " ") + " " + g.names[start]
}
