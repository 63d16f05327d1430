package history

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Class is one kind of anomaly; the checker counts each separately.
type Class string

const (
	// LostWrite: an acknowledged write (outside a transaction, or in one
	// that committed) that no consumer read, although consumers read
	// past its offset.
	LostWrite Class = "lost-write"
	// UnseenWrite: an acknowledged, committed write never read, at an
	// offset beyond everything read. At the end of a run whose final
	// drain read every partition to its end this is a loss too.
	UnseenWrite Class = "unseen-write"
	// Duplicate: one value at two offsets, written by a producer that
	// must not duplicate (idempotent or transactional).
	Duplicate Class = "duplicate"
	// InconsistentOffset: two values at one offset (from acks and polls).
	InconsistentOffset Class = "inconsistent-offset"
	// AbortedRead: a read_committed consumer read a write of a
	// transaction that aborted.
	AbortedRead Class = "aborted-read"
	// PollSkip: a consumer's successive reads of a partition jumped over
	// an offset holding a value it had to see.
	PollSkip Class = "poll-skip"
	// NonMonotonicPoll: a consumer's successive reads of a partition went
	// backwards or repeated an offset without a reassignment between.
	NonMonotonicPoll Class = "nonmonotonic-poll"
	// NonMonotonicSend: one producer's acknowledged sends to a partition,
	// in the order it sent them, got offsets that do not increase.
	NonMonotonicSend Class = "nonmonotonic-send"
	// WriteOrder: a write that completed (acknowledged, or its
	// transaction committed) before another write was sent sits at a
	// higher offset of the same partition than that later write.
	WriteOrder Class = "write-order-vs-realtime"
	// RealtimeCycle: a dependency cycle through write-read edges and
	// write-write edges between writes that did not overlap in time
	// (see cycles.go): impossible in any Kafka.
	RealtimeCycle Class = "G1c-realtime"
	// AbortedOffsetVisible: a group's committed offset, read back, was
	// committed only by transactions that aborted.
	AbortedOffsetVisible Class = "aborted-offset-visible"
	// Phantom: a poll returned a value no producer sent, or a group's
	// offset that no one committed.
	Phantom Class = "phantom"

	// DuplicateAllowed: a value at two offsets from a non-idempotent
	// producer with retries. Kafka allows it; reported, not failed.
	DuplicateAllowed Class = "duplicate (non-idempotent)"
	// G0: a cycle of write-write dependencies between committed
	// transactions (T1's write precedes T2's in one partition, T2's
	// precedes T1's in another). Kafka's transactions do not order
	// concurrent transactions, so this is allowed (Jepsen's Redpanda
	// test says the same of write cycles); reported, not failed.
	G0 Class = "G0"
	// G1c: a dependency cycle through at least one write-read edge, with
	// write-write edges between concurrent transactions allowed in it;
	// allowed for the same reason. Its strict form is RealtimeCycle.
	G1c Class = "G1c"
)

// AllowedClasses lists behaviour Kafka permits that the checker still
// finds and shows.
var AllowedClasses = []Class{DuplicateAllowed, G0, G1c}

// Classes lists the anomaly classes in report order.
var Classes = []Class{LostWrite, UnseenWrite, Duplicate, InconsistentOffset, AbortedRead, PollSkip,
	NonMonotonicPoll, NonMonotonicSend, WriteOrder, RealtimeCycle, AbortedOffsetVisible, Phantom}

// maxExamples bounds the examples kept per class.
const maxExamples = 5

// Report is the checker's result.
type Report struct {
	Counts   map[Class]int
	Examples map[Class][]string
	// Allowed counts behaviour Kafka permits, shown for information.
	Allowed map[Class]int
	Stats   Stats
}

// Stats summarises the history.
type Stats struct {
	Sends, Acks, Fails, Unacked                        int
	TxnCommitted, TxnAborted, TxnUnknown               int
	Polls, RecordsRead, DistinctRead                   int
	OffsetCommits, OffsetFetches, PartitionsWithWrites int
}

// OK reports whether no anomaly class has a count.
func (r *Report) OK() bool {
	for _, c := range Classes {
		if r.Counts[c] > 0 {
			return false
		}
	}
	return true
}

func (r *Report) add(c Class, format string, args ...any) {
	if contains(AllowedClasses, c) {
		r.Allowed[c]++
	} else {
		r.Counts[c]++
	}
	if len(r.Examples[c]) < maxExamples {
		r.Examples[c] = append(r.Examples[c], fmt.Sprintf(format, args...))
	}
}

// Table renders the counts per class and the examples.
func (r *Report) Table() string {
	var b strings.Builder
	s := r.Stats
	fmt.Fprintf(&b, "history: %d sends (%d acked, %d failed, %d no answer), txns %d committed / %d aborted / %d unknown, %d polls (%d records, %d distinct values), %d offset commits, %d offset reads\n",
		s.Sends, s.Acks, s.Fails, s.Unacked, s.TxnCommitted, s.TxnAborted, s.TxnUnknown, s.Polls, s.RecordsRead, s.DistinctRead, s.OffsetCommits, s.OffsetFetches)
	fmt.Fprintf(&b, "%-38s %8s\n", "anomaly", "count")
	for _, c := range Classes {
		fmt.Fprintf(&b, "%-38s %8d\n", c, r.Counts[c])
	}
	fmt.Fprintf(&b, "allowed by Kafka's model (shown, not failures):\n")
	for _, c := range AllowedClasses {
		fmt.Fprintf(&b, "%-38s %8d\n", c, r.Allowed[c])
	}
	for _, c := range append(append([]Class{}, Classes...), AllowedClasses...) {
		for _, e := range r.Examples[c] {
			fmt.Fprintf(&b, "  %s: %s\n", c, e)
		}
	}
	return b.String()
}

type tpo struct {
	tp     TP
	offset int64
}

func (x tpo) String() string { return fmt.Sprintf("%s/%d@%d", x.tp.Topic, x.tp.Partition, x.offset) }

// checker holds the indexes Check builds once.
type checker struct {
	h *History
	r *Report

	send     map[string]*Send            // value → its send
	outcome  map[string]Outcome          // txn → outcome (absent: never ended)
	rcSeen   map[string]bool             // txn → a read_committed consumer read one of its writes
	at       map[TP]map[int64][]string   // offset → distinct values there
	where    map[string]map[tpo][]string // value → positions → sources ("ack", consumer names)
	read     map[string]bool             // value read by any consumer
	maxRead  map[TP]int64
	offsets  map[TP][]int64 // sorted offsets known to hold a value
	txnWrite map[string][]string
}

// Check runs every analysis over h.
func Check(h *History) *Report {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := newChecker(h)
	c.index()
	c.positions()
	c.visibility()
	c.writes()
	c.consumers()
	c.sendOrder()
	c.cycles()
	c.groupOffsets()
	return c.r
}

func newChecker(h *History) *checker {
	return &checker{h: h, r: &Report{Counts: map[Class]int{}, Examples: map[Class][]string{}, Allowed: map[Class]int{}},
		send: map[string]*Send{}, outcome: map[string]Outcome{}, rcSeen: map[string]bool{},
		at: map[TP]map[int64][]string{}, where: map[string]map[tpo][]string{}, read: map[string]bool{},
		maxRead: map[TP]int64{}, offsets: map[TP][]int64{}, txnWrite: map[string][]string{}}
}

func (c *checker) index() {
	h, s := c.h, &c.r.Stats
	for i := range h.Sends {
		sd := &h.Sends[i]
		c.send[sd.Value] = sd
		if sd.Txn != "" {
			c.txnWrite[sd.Txn] = append(c.txnWrite[sd.Txn], sd.Value)
		}
	}
	for _, t := range h.Txns {
		// A later definite outcome wins over an unknown one.
		if prev, ok := c.outcome[t.Txn]; !ok || prev == Unknown {
			c.outcome[t.Txn] = t.Outcome
		}
	}
	for _, o := range c.outcome {
		switch o {
		case Committed:
			s.TxnCommitted++
		case Aborted:
			s.TxnAborted++
		default:
			s.TxnUnknown++
		}
	}
	for txn := range c.txnWrite {
		if _, ok := c.outcome[txn]; !ok {
			c.outcome[txn] = Unknown
			s.TxnUnknown++
		}
	}
	answered := map[string]bool{}
	for _, a := range h.Acks {
		answered[a.Value] = true
	}
	for _, f := range h.Fails {
		answered[f.Value] = true
	}
	s.Sends, s.Acks, s.Fails = len(h.Sends), len(h.Acks), len(h.Fails)
	for _, sd := range h.Sends {
		if !answered[sd.Value] {
			s.Unacked++
		}
	}
	s.Polls, s.OffsetCommits, s.OffsetFetches = len(h.Polls), len(h.Commits), len(h.Fetches)
}

func (c *checker) place(value string, tp TP, off int64, source string) {
	m := c.at[tp]
	if m == nil {
		m = map[int64][]string{}
		c.at[tp] = m
	}
	if !contains(m[off], value) {
		m[off] = append(m[off], value)
	}
	w := c.where[value]
	if w == nil {
		w = map[tpo][]string{}
		c.where[value] = w
	}
	k := tpo{tp, off}
	if !contains(w[k], source) {
		w[k] = append(w[k], source)
	}
}

// positions places every acknowledged and every read value at its offset,
// and checks values against offsets both ways.
func (c *checker) positions() {
	for _, a := range c.h.Acks {
		c.place(a.Value, a.TP, a.Offset, "ack")
	}
	for _, p := range c.h.Polls {
		info := c.h.Consumers[p.Consumer]
		for _, rec := range p.Records {
			c.r.Stats.RecordsRead++
			c.place(rec.Value, rec.TP, rec.Offset, p.Consumer)
			c.read[rec.Value] = true
			if mr, ok := c.maxRead[rec.TP]; !ok || rec.Offset > mr {
				c.maxRead[rec.TP] = rec.Offset
			}
			sd := c.send[rec.Value]
			if sd == nil {
				c.r.add(Phantom, "%s read %q at %s, a value no producer sent", p.Consumer, rec.Value, tpo{rec.TP, rec.Offset})
				continue
			}
			if info.ReadCommitted && sd.Txn != "" {
				c.rcSeen[sd.Txn] = true
			}
		}
	}
	c.r.Stats.DistinctRead = len(c.read)
	for tp, m := range c.at {
		offs := make([]int64, 0, len(m))
		for off, vals := range m {
			offs = append(offs, off)
			if len(vals) > 1 {
				var desc []string
				for _, v := range vals {
					desc = append(desc, fmt.Sprintf("%q (%s)", v, strings.Join(c.where[v][tpo{tp, off}], ",")))
				}
				sort.Strings(desc)
				c.r.add(InconsistentOffset, "%s holds %s", tpo{tp, off}, strings.Join(desc, " and "))
			}
		}
		sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
		c.offsets[tp] = offs
	}
	c.r.Stats.PartitionsWithWrites = len(c.at)
	vals := make([]string, 0, len(c.where))
	for v := range c.where {
		vals = append(vals, v)
	}
	sort.Strings(vals)
	for _, v := range vals {
		w := c.where[v]
		if len(w) < 2 {
			continue
		}
		var desc []string
		for k, src := range w {
			desc = append(desc, fmt.Sprintf("%s (%s)", k, strings.Join(src, ",")))
		}
		sort.Strings(desc)
		class := Duplicate
		if sd := c.send[v]; sd != nil && c.h.Producers[sd.Producer] == NonIdempotent {
			class = DuplicateAllowed
		}
		c.r.add(class, "%q at %d offsets: %s", v, len(w), strings.Join(desc, ", "))
	}
}

// committed reports whether a value's write must be visible to
// read_committed consumers: written outside a transaction, or in one that
// committed (or that a read_committed consumer proved committed).
func (c *checker) committed(value string) bool {
	sd := c.send[value]
	if sd == nil {
		return false
	}
	if sd.Txn == "" {
		return true
	}
	switch c.outcome[sd.Txn] {
	case Committed:
		return true
	case Aborted:
		return false
	}
	return c.rcSeen[sd.Txn]
}

// visibility checks that read_committed consumers saw no aborted write.
func (c *checker) visibility() {
	for _, p := range c.h.Polls {
		if !c.h.Consumers[p.Consumer].ReadCommitted {
			continue
		}
		for _, rec := range p.Records {
			sd := c.send[rec.Value]
			if sd != nil && sd.Txn != "" && c.outcome[sd.Txn] == Aborted {
				c.r.add(AbortedRead, "read_committed %s read %q at %s from transaction %s of %s, which aborted",
					p.Consumer, rec.Value, tpo{rec.TP, rec.Offset}, sd.Txn, sd.Producer)
			}
		}
	}
}

// writes finds acknowledged committed writes nobody read.
func (c *checker) writes() {
	for _, a := range c.h.Acks {
		if c.read[a.Value] || !c.committed(a.Value) {
			continue
		}
		sd := c.send[a.Value]
		k := tpo{a.TP, a.Offset}
		if mr, ok := c.maxRead[a.TP]; ok && a.Offset <= mr {
			c.r.add(LostWrite, "%q from %s acknowledged at %s (at %v), never read; consumers read up to offset %d",
				a.Value, sd.Producer, k, a.At.Round(time.Millisecond), mr)
		} else {
			c.r.add(UnseenWrite, "%q from %s acknowledged at %s (at %v), never read (highest read offset %d)",
				a.Value, sd.Producer, k, a.At.Round(time.Millisecond), c.maxReadOr(a.TP))
		}
	}
}

func (c *checker) maxReadOr(tp TP) int64 {
	if mr, ok := c.maxRead[tp]; ok {
		return mr
	}
	return -1
}

// mustSee reports whether a consumer reading past offset off of tp had to
// return its value: read_uncommitted consumers see every write there,
// read_committed ones only committed writes.
func (c *checker) mustSee(tp TP, off int64, readCommitted bool) (string, bool) {
	for _, v := range c.at[tp][off] {
		if c.send[v] == nil {
			continue
		}
		if !readCommitted || c.committed(v) {
			return v, true
		}
	}
	return "", false
}

// consumers checks each consumer's reads of each partition, in order,
// between assignments: offsets must increase, and nothing visible may be
// skipped.
func (c *checker) consumers() {
	type ev struct {
		seq    int64
		poll   *Poll
		assign *Assign
	}
	byConsumer := map[string][]ev{}
	for i := range c.h.Polls {
		p := &c.h.Polls[i]
		byConsumer[p.Consumer] = append(byConsumer[p.Consumer], ev{seq: p.Seq, poll: p})
	}
	for i := range c.h.Assigns {
		a := &c.h.Assigns[i]
		byConsumer[a.Consumer] = append(byConsumer[a.Consumer], ev{seq: a.Seq, assign: a})
	}
	names := make([]string, 0, len(byConsumer))
	for n := range byConsumer {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		evs := byConsumer[name]
		sort.Slice(evs, func(i, j int) bool { return evs[i].seq < evs[j].seq })
		rc := c.h.Consumers[name].ReadCommitted
		// last[tp] is the last offset read of tp in this assignment (or
		// From-1); absent when unknown.
		last := map[TP]int64{}
		for _, e := range evs {
			if a := e.assign; a != nil {
				delete(last, a.TP)
				if !a.Revoked && a.From >= 0 {
					last[a.TP] = a.From - 1
				}
				continue
			}
			for _, rec := range e.poll.Records {
				prev, ok := last[rec.TP]
				last[rec.TP] = rec.Offset
				if !ok {
					continue
				}
				if rec.Offset <= prev {
					c.r.add(NonMonotonicPoll, "%s read %s after offset %d (%q) with no reassignment between",
						name, tpo{rec.TP, rec.Offset}, prev, rec.Value)
					continue
				}
				if rec.Offset == prev+1 {
					continue
				}
				offs := c.offsets[rec.TP]
				i := sort.Search(len(offs), func(i int) bool { return offs[i] > prev })
				var skipped []string
				for ; i < len(offs) && offs[i] < rec.Offset; i++ {
					if v, ok := c.mustSee(rec.TP, offs[i], rc); ok {
						skipped = append(skipped, fmt.Sprintf("%d=%q", offs[i], v))
					}
				}
				if len(skipped) > 0 {
					if len(skipped) > 4 {
						skipped = append(skipped[:4], fmt.Sprintf("… %d in all", len(skipped)))
					}
					c.r.add(PollSkip, "%s (read_committed=%v) read %s offset %d then %d, skipping %s",
						name, rc, rec.TP.Topic+fmt.Sprintf("/%d", rec.TP.Partition), prev, rec.Offset, strings.Join(skipped, ", "))
				}
			}
		}
	}
}

// sendOrder checks that each producer's acknowledged sends to a partition
// got increasing offsets in the order it sent them.
func (c *checker) sendOrder() {
	ack := map[string]Ack{}
	for _, a := range c.h.Acks {
		ack[a.Value] = a
	}
	type key struct {
		producer string
		tp       TP
	}
	last := map[key]Ack{}
	for _, sd := range c.h.Sends {
		a, ok := ack[sd.Value]
		if !ok {
			continue
		}
		k := key{sd.Producer, a.TP}
		if prev, ok := last[k]; ok && a.Offset <= prev.Offset {
			c.r.add(NonMonotonicSend, "%s sent %q then %q to %s/%d; acknowledged at offsets %d then %d",
				sd.Producer, prev.Value, sd.Value, a.TP.Topic, a.TP.Partition, prev.Offset, a.Offset)
		}
		last[k] = a
	}
}

// groupOffsets checks that a group's committed offsets, as read back, were
// committed by something that did not abort.
func (c *checker) groupOffsets() {
	type key struct {
		group  string
		tp     TP
		offset int64
	}
	commits := map[key][]OffsetCommit{}
	for _, cm := range c.h.Commits {
		k := key{cm.Group, cm.TP, cm.Offset}
		commits[k] = append(commits[k], cm)
	}
	for _, f := range c.h.Fetches {
		if f.Offset < 0 {
			continue // nothing committed yet
		}
		var aborted []string
		legit := false
		for _, cm := range commits[key{f.Group, f.TP, f.Offset}] {
			if cm.Seq > f.Seq {
				continue
			}
			if cm.Txn == "" || c.outcome[cm.Txn] != Aborted {
				legit = true
				break
			}
			aborted = append(aborted, cm.Txn)
		}
		switch {
		case legit:
		case len(aborted) > 0:
			c.r.add(AbortedOffsetVisible, "group %s offset for %s/%d read back as %d, committed only by aborted transaction(s) %s",
				f.Group, f.TP.Topic, f.TP.Partition, f.Offset, strings.Join(aborted, ","))
		default:
			c.r.add(Phantom, "group %s offset for %s/%d read back as %d, which no one committed before",
				f.Group, f.TP.Topic, f.TP.Partition, f.Offset)
		}
	}
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// LastOffsets returns, per partition, the highest offset known (from
// acknowledgements and reads) to hold a write a consumer at the given
// isolation must see: any write for read_uncommitted, committed ones for
// read_committed. A final read is complete once it has read these.
func LastOffsets(h *History, readCommitted bool) map[TP]int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := newChecker(h)
	c.index()
	c.positions()
	out := map[TP]int64{}
	for tp, offs := range c.offsets {
		for i := len(offs) - 1; i >= 0; i-- {
			if _, ok := c.mustSee(tp, offs[i], readCommitted); ok {
				out[tp] = offs[i]
				break
			}
		}
	}
	return out
}
