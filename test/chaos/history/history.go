// Package history records what Kafka clients did and saw during a chaos
// run, and checks the record for the anomalies a Kafka-compatible system
// must never show. The model follows Jepsen's Kafka queue workload
// (jepsen.tests.kafka): every value is sent once and is unique, so a value
// names its write; a partition is a log of offsets, each holding at most
// one value; and the checker compares what producers were told (the
// acknowledged offset), what transactions decided, and what consumers
// polled.
//
// A History is safe for concurrent use: clients record into it from their
// own goroutines. Each event gets a sequence number from one counter, so
// events of one goroutine keep their order, and an event recorded after
// another returned is ordered after it.
//
// Usage:
//
//	h := history.New()
//	h.Producer("p1", history.Idempotent)
//	h.Send("p1", "", tp, "p1-0")
//	h.Ack("p1-0", tp, 0)
//	h.Consumer("c1", history.ConsumerInfo{ReadCommitted: true})
//	h.Assign("c1", tp, 0)
//	h.Poll("c1", "", []history.Record{{TP: tp, Offset: 0, Value: "p1-0"}})
//	r := history.Check(h)
//	fmt.Print(r.Table())
package history

import (
	"sync"
	"time"
)

// TP names a topic partition.
type TP struct {
	Topic     string
	Partition int32
}

// ProducerKind is how a producer was configured; it decides which
// anomalies its writes can show legitimately.
type ProducerKind int

const (
	// Idempotent producers (the Kafka default) must never duplicate.
	Idempotent ProducerKind = iota
	// NonIdempotent producers with retries may duplicate a batch whose
	// acknowledgement was lost: Kafka allows it (at-least-once).
	NonIdempotent
	// Transactional producers write in transactions.
	Transactional
)

func (k ProducerKind) String() string {
	switch k {
	case Idempotent:
		return "idempotent"
	case NonIdempotent:
		return "non-idempotent"
	case Transactional:
		return "transactional"
	}
	return "unknown"
}

// ConsumerInfo describes a consumer.
type ConsumerInfo struct {
	ReadCommitted bool
	// Group is the consumer group, "" for a consumer that assigns
	// partitions itself.
	Group string
}

// Outcome is what a transaction's end returned.
type Outcome int

const (
	// Unknown: the end call failed or never returned; the transaction
	// may have committed or aborted.
	Unknown Outcome = iota
	Committed
	Aborted
)

func (o Outcome) String() string {
	switch o {
	case Committed:
		return "committed"
	case Aborted:
		return "aborted"
	}
	return "unknown"
}

// Send is a send attempt (its invocation).
type Send struct {
	Seq      int64
	At       time.Duration // since the history's Start
	Producer string
	Txn      string // "" outside a transaction
	TP       TP
	Value    string
}

// Ack is an acknowledged send: the offset the producer was told.
type Ack struct {
	Seq    int64
	At     time.Duration
	Value  string
	TP     TP
	Offset int64
}

// Fail is a send that returned an error: indeterminate, it may or may not
// have been written.
type Fail struct {
	Seq   int64
	At    time.Duration
	Value string
	Err   string
}

// TxnEnd is a transaction's outcome.
type TxnEnd struct {
	Seq      int64
	At       time.Duration
	Producer string
	Txn      string
	Outcome  Outcome
	Err      string
}

// Record is one record a poll returned.
type Record struct {
	TP     TP
	Offset int64
	Value  string
}

// Poll is one poll's results, in the order the client returned them.
type Poll struct {
	Seq      int64
	At       time.Duration
	Consumer string
	// Txn is the transaction these reads feed (a consume-transform-
	// produce loop), "" otherwise. It gives write-read dependencies.
	Txn     string
	Records []Record
}

// Assign is a change of a consumer's assignment. After it the consumer
// reads tp from From (-1: from wherever the group's committed offset
// says, unknown to the checker). Revoked marks the partition taken away.
type Assign struct {
	Seq      int64
	At       time.Duration
	Consumer string
	TP       TP
	From     int64
	Revoked  bool
}

// OffsetCommit is an offset commit invoked for a group; Txn is the
// transaction it is part of ("" for a plain commit).
type OffsetCommit struct {
	Seq    int64
	At     time.Duration
	Group  string
	Txn    string
	TP     TP
	Offset int64
}

// OffsetFetch is a group's committed offset as observed by a reader.
type OffsetFetch struct {
	Seq    int64
	At     time.Duration
	Group  string
	TP     TP
	Offset int64
}

// History is the record of one run. Events carry a sequence number (their
// order) and the time since Start (to match them with server logs). The exported slices are for the
// checker and tests; record through the methods while clients run.
type History struct {
	mu        sync.Mutex // guards every field below
	seq       int64
	Start     time.Time
	Producers map[string]ProducerKind
	Consumers map[string]ConsumerInfo
	Sends     []Send
	Acks      []Ack
	Fails     []Fail
	Txns      []TxnEnd
	Polls     []Poll
	Assigns   []Assign
	Commits   []OffsetCommit
	Fetches   []OffsetFetch
}

// New returns an empty history.
func New() *History {
	return &History{Start: time.Now(), Producers: map[string]ProducerKind{}, Consumers: map[string]ConsumerInfo{}}
}

func (h *History) nextLocked() int64 {
	h.seq++
	return h.seq
}

// Producer declares a producer.
func (h *History) Producer(name string, kind ProducerKind) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Producers[name] = kind
}

// Consumer declares a consumer.
func (h *History) Consumer(name string, info ConsumerInfo) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Consumers[name] = info
}

// Send records a send invocation; call it before handing the record to
// the client.
func (h *History) Send(producer, txn string, tp TP, value string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Sends = append(h.Sends, Send{Seq: h.nextLocked(), At: time.Since(h.Start), Producer: producer, Txn: txn, TP: tp, Value: value})
}

// Ack records that value's send was acknowledged at tp/offset.
func (h *History) Ack(value string, tp TP, offset int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Acks = append(h.Acks, Ack{Seq: h.nextLocked(), At: time.Since(h.Start), Value: value, TP: tp, Offset: offset})
}

// Fail records that value's send returned err.
func (h *History) Fail(value string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Fails = append(h.Fails, Fail{Seq: h.nextLocked(), At: time.Since(h.Start), Value: value, Err: errString(err)})
}

// EndTxn records a transaction's outcome.
func (h *History) EndTxn(producer, txn string, outcome Outcome, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Txns = append(h.Txns, TxnEnd{Seq: h.nextLocked(), At: time.Since(h.Start), Producer: producer, Txn: txn, Outcome: outcome, Err: errString(err)})
}

// Poll records one poll's records (an empty poll is not worth recording).
func (h *History) Poll(consumer, txn string, recs []Record) {
	if len(recs) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Polls = append(h.Polls, Poll{Seq: h.nextLocked(), At: time.Since(h.Start), Consumer: consumer, Txn: txn, Records: recs})
}

// Assign records that consumer now reads tp from offset from (-1:
// unknown, e.g. a group's committed offset).
func (h *History) Assign(consumer string, tp TP, from int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Assigns = append(h.Assigns, Assign{Seq: h.nextLocked(), At: time.Since(h.Start), Consumer: consumer, TP: tp, From: from})
}

// Revoke records that consumer no longer reads tp.
func (h *History) Revoke(consumer string, tp TP) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Assigns = append(h.Assigns, Assign{Seq: h.nextLocked(), At: time.Since(h.Start), Consumer: consumer, TP: tp, From: -1, Revoked: true})
}

// Commit records an offset commit's invocation (txn "" for a plain one).
func (h *History) Commit(group, txn string, tp TP, offset int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Commits = append(h.Commits, OffsetCommit{Seq: h.nextLocked(), At: time.Since(h.Start), Group: group, Txn: txn, TP: tp, Offset: offset})
}

// Fetched records a group's committed offset as read back.
func (h *History) Fetched(group string, tp TP, offset int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Fetches = append(h.Fetches, OffsetFetch{Seq: h.nextLocked(), At: time.Since(h.Start), Group: group, TP: tp, Offset: offset})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Sizes counts the events so far, cheaply (for progress reports while
// clients record; Check holds the history for longer).
func (h *History) Sizes() (sends, acks, fails, polls, txns int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.Sends), len(h.Acks), len(h.Fails), len(h.Polls), len(h.Txns)
}
