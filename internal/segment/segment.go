package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/sluicehq/sluice/internal/records"
)

// Version is the format version this package writes. Readers accept only
// versions they know.
const Version uint16 = 1

const (
	magic       = "SLCF"
	headerSize  = 8
	trailerSize = 24
	// EntrySize is the encoded size of one index Entry.
	EntrySize = 82
)

// castagnoli is the CRC-32C table of the file checksum.
var castagnoli = records.Castagnoli

// ErrCorrupt is returned (wrapped) for any file that is not a valid segment:
// bad magic, unknown version, checksum mismatch, or an index pointing outside
// the data.
var ErrCorrupt = errors.New("segment: corrupt file")

// Entry describes one chunk: the batches of one partition inside a file.
type Entry struct {
	TopicID   [16]byte
	Partition int32
	// Offset and Length locate the chunk's bytes inside the file.
	Offset uint64
	Length uint32
	// Batches is the number of record batches in the chunk; Records is the
	// number of offsets they occupy (the sum of lastOffsetDelta+1).
	Batches uint32
	Records int64
	// MinTimestamp and MaxTimestamp span the batches' first and max timestamps.
	MinTimestamp int64
	MaxTimestamp int64
	// Producer fields describe the first batch of the chunk (-1 when the
	// producer is not idempotent); LastSequence is the last batch's last
	// sequence number.
	ProducerID    int64
	ProducerEpoch int16
	FirstSequence int32
	LastSequence  int32
	// Attributes holds per-chunk flags; see AttrTransactional.
	Attributes uint32
}

// AttrTransactional marks a chunk that holds at least one transactional batch.
const AttrTransactional uint32 = 1 << 0

func (e *Entry) appendTo(b []byte) []byte {
	b = append(b, e.TopicID[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(e.Partition))
	b = binary.BigEndian.AppendUint64(b, e.Offset)
	b = binary.BigEndian.AppendUint32(b, e.Length)
	b = binary.BigEndian.AppendUint32(b, e.Batches)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Records))
	b = binary.BigEndian.AppendUint64(b, uint64(e.MinTimestamp))
	b = binary.BigEndian.AppendUint64(b, uint64(e.MaxTimestamp))
	b = binary.BigEndian.AppendUint64(b, uint64(e.ProducerID))
	b = binary.BigEndian.AppendUint16(b, uint16(e.ProducerEpoch))
	b = binary.BigEndian.AppendUint32(b, uint32(e.FirstSequence))
	b = binary.BigEndian.AppendUint32(b, uint32(e.LastSequence))
	b = binary.BigEndian.AppendUint32(b, e.Attributes)
	return b
}

func decodeEntry(b []byte) Entry {
	var e Entry
	copy(e.TopicID[:], b[0:16])
	e.Partition = int32(binary.BigEndian.Uint32(b[16:]))
	e.Offset = binary.BigEndian.Uint64(b[20:])
	e.Length = binary.BigEndian.Uint32(b[28:])
	e.Batches = binary.BigEndian.Uint32(b[32:])
	e.Records = int64(binary.BigEndian.Uint64(b[36:]))
	e.MinTimestamp = int64(binary.BigEndian.Uint64(b[44:]))
	e.MaxTimestamp = int64(binary.BigEndian.Uint64(b[52:]))
	e.ProducerID = int64(binary.BigEndian.Uint64(b[60:]))
	e.ProducerEpoch = int16(binary.BigEndian.Uint16(b[68:]))
	e.FirstSequence = int32(binary.BigEndian.Uint32(b[70:]))
	e.LastSequence = int32(binary.BigEndian.Uint32(b[74:]))
	e.Attributes = binary.BigEndian.Uint32(b[78:])
	return e
}

type chunkKey struct {
	topic     [16]byte
	partition int32
}

type chunk struct {
	entry   Entry
	batches [][]byte
	// checked holds each batch's records.BatchInfo.CRCChecked.
	checked []bool
	// order holds, for each batch, its position in the Add sequence.
	order []int
}

// Writer collects batches and encodes them into one file. The zero value is
// ready to use. A Writer is not safe for concurrent use.
type Writer struct {
	chunks []*chunk
	index  map[chunkKey]int
	size   int
	added  int
}

// Add appends a batch to its partition's chunk; info (records.Validate or
// records.InfoOf computes it) feeds the chunk's index entry. Batches of one
// partition keep the order in which they were added. The writer keeps a
// reference to batch; the caller must not modify it until Finish returns.
func (w *Writer) Add(topic [16]byte, partition int32, batch []byte, info records.BatchInfo) {
	if w.index == nil {
		w.index = make(map[chunkKey]int)
	}
	k := chunkKey{topic, partition}
	i, ok := w.index[k]
	if !ok {
		i = len(w.chunks)
		w.index[k] = i
		w.chunks = append(w.chunks, &chunk{entry: Entry{
			TopicID:       topic,
			Partition:     partition,
			MinTimestamp:  info.MinTimestamp,
			MaxTimestamp:  info.MaxTimestamp,
			ProducerID:    info.ProducerID,
			ProducerEpoch: info.ProducerEpoch,
			FirstSequence: info.FirstSequence,
		}})
	}
	c := w.chunks[i]
	e := &c.entry
	e.Length += uint32(len(batch))
	e.Batches++
	e.Records += info.Records
	e.MinTimestamp = min(e.MinTimestamp, info.MinTimestamp)
	e.MaxTimestamp = max(e.MaxTimestamp, info.MaxTimestamp)
	e.LastSequence = info.LastSequence
	if info.Transactional {
		e.Attributes |= AttrTransactional
	}
	c.batches = append(c.batches, batch)
	c.checked = append(c.checked, info.CRCChecked)
	c.order = append(c.order, w.added)
	w.added++
	w.size += len(batch)
}

// Len reports the number of batch bytes added so far.
func (w *Writer) Len() int { return w.size }

// Finish encodes the file and returns it with its index entries, in file
// order. Each returned entry's position in the slice is its chunk index, which
// callers use to map commit results back to chunks.
func (w *Writer) Finish() ([]byte, []Entry) {
	b, entries, _ := w.FinishWithPositions()
	return b, entries
}

// FinishWithPositions is Finish that also returns, for the i-th batch
// added, its byte offset in the file.
func (w *Writer) FinishWithPositions() ([]byte, []Entry, []uint64) {
	return w.FinishInto(nil)
}

// Size is the length of the file Finish returns.
func (w *Writer) Size() int {
	return headerSize + w.size + len(w.chunks)*EntrySize + trailerSize
}

// FinishInto is FinishWithPositions that encodes the file into buf's
// array when it has room for Size bytes (else into a new one).
func (w *Writer) FinishInto(buf []byte) ([]byte, []Entry, []uint64) {
	total := w.Size()
	b := buf[:0]
	if cap(b) < total {
		b = make([]byte, 0, total)
	}
	b = append(b, magic...)
	b = binary.BigEndian.AppendUint16(b, Version)
	b = binary.BigEndian.AppendUint16(b, 0)
	// The checksum is built as the file is: see crc.go.
	crc := crc32.Checksum(b, castagnoli)
	entries := make([]Entry, len(w.chunks))
	positions := make([]uint64, w.added)
	for i, c := range w.chunks {
		c.entry.Offset = uint64(len(b))
		for j, batch := range c.batches {
			positions[c.order[j]] = uint64(len(b))
			b = append(b, batch...)
			crc = updateBatchCRC(crc, batch, c.checked[j])
		}
		entries[i] = c.entry
	}
	indexOffset := len(b)
	for i := range entries {
		b = entries[i].appendTo(b)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(indexOffset))
	b = binary.BigEndian.AppendUint32(b, uint32(len(entries)))
	crc = crc32.Update(crc, castagnoli, b[indexOffset:])
	b = binary.BigEndian.AppendUint32(b, crc)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = append(b, magic...)
	return b, entries, positions
}

// FinishSplit is FinishWithPositions without the copy: it returns the
// file as pieces whose concatenation is exactly the file FinishInto
// encodes, the header first, then the added batches themselves (not
// copies: the caller must not modify them until the pieces are written),
// then the index and trailer. A bucket that writes pieces with one
// gathering write (objstore.SplitPutter) then copies each byte once, into
// the file, instead of twice.
func (w *Writer) FinishSplit() ([][]byte, []Entry, []uint64) {
	pieces := make([][]byte, 0, w.added+2)
	head := make([]byte, 0, headerSize)
	head = append(head, magic...)
	head = binary.BigEndian.AppendUint16(head, Version)
	head = binary.BigEndian.AppendUint16(head, 0)
	pieces = append(pieces, head)
	crc := crc32.Checksum(head, castagnoli)
	off := uint64(len(head))
	entries := make([]Entry, len(w.chunks))
	positions := make([]uint64, w.added)
	for i, c := range w.chunks {
		c.entry.Offset = off
		for j, batch := range c.batches {
			positions[c.order[j]] = off
			pieces = append(pieces, batch)
			off += uint64(len(batch))
			crc = updateBatchCRC(crc, batch, c.checked[j])
		}
		entries[i] = c.entry
	}
	tail := make([]byte, 0, len(entries)*EntrySize+trailerSize)
	for i := range entries {
		tail = entries[i].appendTo(tail)
	}
	tail = binary.BigEndian.AppendUint64(tail, off)
	tail = binary.BigEndian.AppendUint32(tail, uint32(len(entries)))
	crc = crc32.Update(crc, castagnoli, tail)
	tail = binary.BigEndian.AppendUint32(tail, crc)
	tail = binary.BigEndian.AppendUint32(tail, 0)
	tail = append(tail, magic...)
	pieces = append(pieces, tail)
	return pieces, entries, positions
}

// File is a parsed, checksum-verified segment.
type File struct {
	Version uint16
	Entries []Entry
	data    []byte
}

// Chunk returns the bytes of entry i.
func (f *File) Chunk(i int) []byte {
	e := f.Entries[i]
	return f.data[e.Offset : e.Offset+uint64(e.Length)]
}

// Parse validates a whole file (magic, version, checksum, index bounds) and
// returns its index. The returned File references data.
func Parse(data []byte) (*File, error) {
	if len(data) < headerSize+trailerSize {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrCorrupt, len(data))
	}
	if string(data[:4]) != magic || string(data[len(data)-4:]) != magic {
		return nil, fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	version := binary.BigEndian.Uint16(data[4:])
	if version != Version {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrCorrupt, version)
	}
	t := data[len(data)-trailerSize:]
	sumEnd := len(data) - trailerSize + 12
	if got, want := crc32.Checksum(data[:sumEnd], castagnoli), binary.BigEndian.Uint32(t[12:]); got != want {
		return nil, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	indexOffset := binary.BigEndian.Uint64(t[0:])
	count := uint64(binary.BigEndian.Uint32(t[8:]))
	indexEnd := uint64(len(data) - trailerSize)
	if indexOffset < headerSize || indexOffset > indexEnd || (indexEnd-indexOffset) != count*EntrySize {
		return nil, fmt.Errorf("%w: index at %d with %d entries does not fit", ErrCorrupt, indexOffset, count)
	}
	f := &File{Version: version, Entries: make([]Entry, count), data: data}
	next := uint64(headerSize)
	for i := range f.Entries {
		off := indexOffset + uint64(i)*EntrySize
		e := decodeEntry(data[off : off+EntrySize])
		if e.Offset != next || e.Offset+uint64(e.Length) > indexOffset {
			return nil, fmt.Errorf("%w: chunk %d at [%d,+%d) overlaps or leaves a gap", ErrCorrupt, i, e.Offset, e.Length)
		}
		next = e.Offset + uint64(e.Length)
		f.Entries[i] = e
	}
	if next != indexOffset {
		return nil, fmt.Errorf("%w: %d unindexed bytes before the index", ErrCorrupt, indexOffset-next)
	}
	return f, nil
}

// FileCRC32C returns the CRC-32C of all of data, for a file as Finish
// builds it, from the checksum in its trailer and the trailer from there on:
// O(1) instead of a pass over the file. ok is false when data does not look
// like a segment file (too short, bad magic or version). The result is only
// as good as the stored checksum: an object store that verifies it against
// what it receives (S3's x-amz-checksum-crc32c) refuses a file whose bytes
// changed after Finish, which a freshly computed checksum would not catch.
func FileCRC32C(data []byte) (sum uint32, ok bool) {
	if len(data) < headerSize+trailerSize || string(data[:4]) != magic ||
		string(data[len(data)-4:]) != magic || binary.BigEndian.Uint16(data[4:]) != Version {
		return 0, false
	}
	sumEnd := len(data) - trailerSize + 12 // the stored checksum covers data[:sumEnd]
	return crc32.Update(binary.BigEndian.Uint32(data[sumEnd:]), castagnoli, data[sumEnd:]), true
}
