package seq

import (
	"errors"

	"github.com/sluicehq/sluice/internal/metadata"
)

// OpenTxn is what one commit knows of a producer's open transaction on a
// partition (its txn_open row).
type OpenTxn struct {
	First   int64 // the transaction's first offset, while open
	Stored  bool  // a row exists in the store
	Closed  bool
	Touched bool // a batch or marker of this commit changed it
}

// AbortedRange is an aborted transaction's offsets on a partition, to be
// written to the transaction index.
type AbortedRange struct {
	Key         Key
	First, Last int64
}

// TxnIndex is the transaction-index work of one file commit, the same in
// every backend: the producers' transactions (read when a transactional
// batch first needs one), the open-transaction rows of the (partition,
// producer) pairs the file touches (Want them, load the stored ones), and
// what the commit's batches and markers make of them. The backend then
// writes Open (in Order) and Aborted.
type TxnIndex struct {
	Open    map[Key]*OpenTxn
	Order   []Key // keys of Open, in order of first Want
	Aborted []AbortedRange
	txns    map[int64]*metadata.Transaction // nil value: no transaction
}

// TxnKeyOf returns the pair a batch of a commit touches in the
// transaction index: a marker's producer, or a transactional batch's.
func TxnKeyOf(b metadata.BatchCommit) (Key, bool) {
	switch {
	case b.Marker != nil:
		return Key{b.TopicID, b.Partition, b.Marker.ProducerID}, true
	case b.Producer != nil && b.Transactional:
		return Key{b.TopicID, b.Partition, b.Producer.ID}, true
	}
	return Key{}, false
}

// Want adds k, with no open transaction until Loaded says otherwise, and
// reports whether it is new.
func (x *TxnIndex) Want(k Key) bool {
	if _, ok := x.Open[k]; ok {
		return false
	}
	if x.Open == nil {
		x.Open = map[Key]*OpenTxn{}
	}
	x.Open[k] = &OpenTxn{Closed: true}
	x.Order = append(x.Order, k)
	return true
}

// Loaded records k's stored row: a transaction open since first. It
// reports false for a key that was not wanted.
func (x *TxnIndex) Loaded(k Key, first int64) bool {
	o := x.Open[k]
	if o == nil {
		return false
	}
	o.First, o.Stored, o.Closed = first, true, false
	return true
}

// Opened notes a transactional batch appended at base: it opens k's
// transaction unless it is open. k must have been wanted.
func (x *TxnIndex) Opened(k Key, base int64) {
	if o := x.Open[k]; o.Closed {
		o.First, o.Closed, o.Touched = base, false, true
	}
}

// Marked notes a marker appended at offset: it closes k's open
// transaction, if any, recording its range when it aborted. k must have
// been wanted.
func (x *TxnIndex) Marked(k Key, offset int64, commit bool) {
	o := x.Open[k]
	if o.Closed {
		return
	}
	o.Closed, o.Touched = true, true
	if !commit {
		x.Aborted = append(x.Aborted, AbortedRange{Key: k, First: o.First, Last: offset})
	}
}

// CheckWrite verifies that transactional batch b is part of its producer's
// ongoing transaction on its partition (metadata.CheckTxnWrite). read
// reads the producer's transaction (metadata.ErrNotFound: none), once per
// producer and commit.
func (x *TxnIndex) CheckWrite(b metadata.BatchCommit, read func(producerID int64) (metadata.Transaction, error)) error {
	p := b.Producer
	t, ok := x.txns[p.ID]
	if !ok {
		got, err := read(p.ID)
		switch {
		case errors.Is(err, metadata.ErrNotFound):
		case err != nil:
			return err
		default:
			t = &got
		}
		if x.txns == nil {
			x.txns = map[int64]*metadata.Transaction{}
		}
		x.txns[p.ID] = t
	}
	return metadata.CheckTxnWrite(t, p.Epoch, b.TopicID, b.Partition)
}
