package sequencer

import (
	"errors"
	"testing"

	"github.com/sluicehq/sluice/internal/metadata"
)

func TestAcquireLease(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cur     *StoredLease
		holder  string
		epoch   int64
		wantErr error
	}{
		{"never taken", nil, "a", 1, nil},
		{"renewal keeps the epoch", &StoredLease{Holder: "a", Epoch: 4}, "a", 4, nil},
		{"renewal after expiry or release keeps it too", &StoredLease{Holder: "a", Epoch: 4, Expired: true}, "a", 4, nil},
		{"held by another", &StoredLease{Holder: "a", Epoch: 4}, "b", 0, metadata.ErrLeaseHeld},
		{"expired: taken over with the next epoch", &StoredLease{Holder: "a", Epoch: 4, Expired: true}, "b", 5, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			epoch, err := AcquireLease(tt.cur, "job", tt.holder)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) || epoch != tt.epoch {
				t.Fatalf("AcquireLease = %d, %v; want %d, %v", epoch, err, tt.epoch, tt.wantErr)
			}
		})
	}
}

func TestCheckLease(t *testing.T) {
	l := metadata.Lease{Name: "job", Holder: "a", Epoch: 3}
	for _, tt := range []struct {
		name   string
		cur    *StoredLease
		fenced bool
	}{
		{"current", &StoredLease{Holder: "a", Epoch: 3}, false},
		{"never taken", nil, true},
		{"expired", &StoredLease{Holder: "a", Epoch: 3, Expired: true}, true},
		{"taken over", &StoredLease{Holder: "b", Epoch: 4}, true},
		{"same holder, later epoch", &StoredLease{Holder: "a", Epoch: 4}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckLease(tt.cur, l)
			if errors.Is(err, metadata.ErrFenced) != tt.fenced || (!tt.fenced && err != nil) {
				t.Fatalf("CheckLease = %v, fenced want %v", err, tt.fenced)
			}
		})
	}
}

func TestCheckOwnerEpoch(t *testing.T) {
	if err := CheckOwnerEpoch("g", 2, true, 2); err != nil {
		t.Fatalf("owner = %v", err)
	}
	if err := CheckOwnerEpoch("g", 3, true, 2); !errors.Is(err, metadata.ErrFenced) {
		t.Fatalf("superseded owner = %v, want ErrFenced", err)
	}
	if err := CheckOwnerEpoch("g", 0, false, 2); !errors.Is(err, metadata.ErrGroupNotFound) {
		t.Fatalf("missing group = %v, want ErrGroupNotFound", err)
	}
}

func TestAdvanceLogStart(t *testing.T) {
	st := metadata.PartitionState{LogStartOffset: 4, HighWatermark: 10}
	for _, tt := range []struct {
		offset int64
		start  int64
		move   bool
		err    error
	}{
		{7, 7, true, nil},
		{10, 10, true, nil}, // to the high watermark: an empty log
		{4, 4, false, nil},  // where it is
		{2, 4, false, nil},  // backwards changes nothing
		{11, 4, false, metadata.ErrOffsetOutOfRange},
		{-1, 4, false, metadata.ErrOffsetOutOfRange},
	} {
		got, move, err := AdvanceLogStart(st, tt.offset)
		if got.LogStartOffset != tt.start || got.HighWatermark != 10 || move != tt.move || !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
			t.Errorf("AdvanceLogStart(%d) = %+v, %v, %v; want start %d, %v, %v", tt.offset, got, move, err, tt.start, tt.move, tt.err)
		}
	}
}

func TestStableOffset(t *testing.T) {
	for _, tt := range []struct {
		hw, first int64
		open      bool
		want      int64
	}{
		{10, 0, false, 10},
		{10, 4, true, 4},
		{10, 10, true, 10},
	} {
		if got := StableOffset(tt.hw, tt.first, tt.open); got != tt.want {
			t.Errorf("StableOffset(%d, %d, %v) = %d, want %d", tt.hw, tt.first, tt.open, got, tt.want)
		}
	}
}

func TestExtentsFrom(t *testing.T) {
	// The query's answer from the last extent starting at or before 7,
	// which ends below it (a gap left by compaction).
	got := ExtentsFrom([]metadata.Extent{{BaseOffset: 2, EndOffset: 5}, {BaseOffset: 8, EndOffset: 9}, {BaseOffset: 9, EndOffset: 12}}, 7)
	if len(got) != 2 || got[0].BaseOffset != 8 || got[1].BaseOffset != 9 {
		t.Fatalf("ExtentsFrom = %+v", got)
	}
}

func TestValidateReplacement(t *testing.T) {
	ok := metadata.PartitionSwap{
		Old: []metadata.ExtentRef{{BaseOffset: 0, EndOffset: 4, FileKey: "a"}, {BaseOffset: 4, EndOffset: 9, FileKey: "b"}},
		New: []metadata.NewExtent{{BaseOffset: 0, EndOffset: 3}, {BaseOffset: 5, EndOffset: 9}},
	}
	if err := ValidateReplacement(metadata.Replacement{Key: "c", Partitions: []metadata.PartitionSwap{ok}}); err != nil {
		t.Fatalf("valid replacement: %v", err)
	}
	for name, p := range map[string]metadata.PartitionSwap{
		"no old":         {New: ok.New},
		"old overlap":    {Old: []metadata.ExtentRef{{BaseOffset: 0, EndOffset: 5}, {BaseOffset: 4, EndOffset: 9}}, New: ok.New},
		"new outside":    {Old: ok.Old, New: []metadata.NewExtent{{BaseOffset: 0, EndOffset: 10}}},
		"new overlap":    {Old: ok.Old, New: []metadata.NewExtent{{BaseOffset: 0, EndOffset: 5}, {BaseOffset: 4, EndOffset: 9}}},
		"empty new span": {Old: ok.Old, New: []metadata.NewExtent{{BaseOffset: 3, EndOffset: 3}}},
	} {
		if err := ValidateReplacement(metadata.Replacement{Key: "c", Partitions: []metadata.PartitionSwap{p}}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCheckTxnWrite(t *testing.T) {
	var topic metadata.TopicID
	txn := &metadata.Transaction{ID: "x", ProducerEpoch: 3, State: metadata.TxnOngoing,
		Partitions: []metadata.TxnPartition{{TopicID: topic, Partition: 1}}}
	prepared := *txn
	prepared.State = metadata.TxnPrepareCommit
	for _, tt := range []struct {
		name      string
		t         *metadata.Transaction
		epoch     int16
		partition int32
		want      error
	}{
		{"covered", txn, 3, 1, nil},
		{"no transaction", nil, 3, 1, metadata.ErrInvalidTxnState},
		{"older epoch", txn, 2, 1, metadata.ErrInvalidProducerEpoch},
		{"newer epoch", txn, 4, 1, metadata.ErrInvalidTxnState},
		{"partition not added", txn, 3, 0, metadata.ErrInvalidTxnState},
		{"preparing: no late writes", &prepared, 3, 1, metadata.ErrInvalidTxnState},
	} {
		err := CheckTxnWrite(tt.t, tt.epoch, topic, tt.partition)
		if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("%s: CheckTxnWrite = %v, want %v", tt.name, err, tt.want)
		}
	}
}
