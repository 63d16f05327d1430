// Package filetool reads data files for operators: Inspect prints one
// file's index and batches (like WarpStream's file reader), Verify checks
// that every file the metadata store references is in the bucket, whole,
// with a matching checksum.
package filetool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sluicehq/sluice/internal/journal"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/segment"
)

// Inspect reads the file at key and writes its index and every batch's
// header to w. names, if not nil, maps topic IDs to names.
func Inspect(ctx context.Context, bucket objstore.Bucket, key string, names func(metadata.TopicID) string, w io.Writer) error {
	data, err := bucket.GetRange(ctx, key, 0, -1)
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	f, err := segment.Parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	fmt.Fprintf(w, "file %s\n  size %d bytes, format version %d, checksum ok, %d chunks\n", key, len(data), f.Version, len(f.Entries))
	for i, e := range f.Entries {
		topic := metadata.TopicID(e.TopicID).Base64()
		if names != nil {
			if n := names(e.TopicID); n != "" {
				topic = n + " (" + topic + ")"
			}
		}
		fmt.Fprintf(w, "\nchunk %d: topic %s partition %d\n  bytes [%d, +%d) batches %d records %d timestamps %s .. %s\n",
			i, topic, e.Partition, e.Offset, e.Length, e.Batches, e.Records, ts(e.MinTimestamp), ts(e.MaxTimestamp))
		if e.ProducerID >= 0 {
			fmt.Fprintf(w, "  producer %d epoch %d sequences %d..%d\n", e.ProducerID, e.ProducerEpoch, e.FirstSequence, e.LastSequence)
		}
		if e.Attributes&segment.AttrTransactional != 0 {
			fmt.Fprintf(w, "  transactional\n")
		}
		chunk := f.Chunk(i)
		pos := e.Offset
		for n := 0; len(chunk) > 0; n++ {
			raw, rest, err := records.Next(chunk)
			if err != nil {
				return fmt.Errorf("%s chunk %d: %w", key, i, err)
			}
			b, err := records.ReadHeader(raw)
			if err != nil {
				return fmt.Errorf("%s chunk %d batch %d: %w", key, i, n, err)
			}
			fmt.Fprintf(w, "  batch %d at %d: %d bytes, base offset %d, offsets %d, records %d, %s%s, max timestamp %s",
				n, pos, len(raw), b.BaseOffset, int64(b.LastOffsetDelta)+1, b.NumRecords,
				codecName(b.Attributes), flags(b.Attributes), ts(b.MaxTimestamp))
			if b.ProducerID >= 0 {
				fmt.Fprintf(w, ", producer %d/%d seq %d", b.ProducerID, b.ProducerEpoch, b.FirstSequence)
			}
			fmt.Fprintln(w)
			pos += uint64(len(raw))
			chunk = rest
		}
	}
	return nil
}

func codecName(attrs int16) string {
	switch codec := attrs & records.AttrCompression; codec {
	case records.CodecNone:
		return "uncompressed"
	case records.CodecGzip:
		return "gzip"
	case records.CodecSnappy:
		return "snappy"
	case records.CodecLz4:
		return "lz4"
	case records.CodecZstd:
		return "zstd"
	default:
		return fmt.Sprintf("codec %d", codec)
	}
}

func flags(attrs int16) string {
	s := ""
	if attrs&records.AttrLogAppendTime != 0 {
		s += " log-append-time"
	}
	if attrs&records.AttrTransactional != 0 {
		s += " transactional"
	}
	if attrs&records.AttrControl != 0 {
		s += " control"
	}
	return s
}

func ts(ms int64) string {
	if ms < 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
}

// Report is what Verify found.
type Report struct {
	// Files is the number of file records checked, Bytes their size.
	Files int
	Bytes int64
	// Missing, SizeMismatch and Corrupt list keys of referenced files
	// that are absent, of the wrong size, or fail the checksum.
	Missing, SizeMismatch, Corrupt []string
	// Releasing counts records of unreferenced files whose object is
	// already deleted (the record goes next).
	Releasing int
	// Unreferenced counts data files that no record names: objects
	// under files/ (uploads still being committed, or orphans the sweep
	// will delete) and journaled files under journal/ (lightning files
	// acknowledged and waiting to be sequenced, or left by a failed
	// flush for recovery to settle).
	Unreferenced int
}

// OK reports whether every referenced file is present and valid.
func (r Report) OK() bool {
	return len(r.Missing) == 0 && len(r.SizeMismatch) == 0 && len(r.Corrupt) == 0
}

// Verify reads every file the store has a record of (those still referenced
// and those released but not yet deleted) and checks presence, size and
// checksum; progress, if not nil, is called after each file.
func Verify(ctx context.Context, store metadata.Lifecycle, bucket objstore.Bucket, progress func(done int)) (Report, error) {
	return verify(ctx, store, bucket, progress, nil, nil)
}

// verify is Verify with check, if not nil, called on every referenced file
// that parses, and unreferenced, if not nil, given each data file (under
// files/, or journaled under journal/) that no record names.
func verify(ctx context.Context, store metadata.Lifecycle, bucket objstore.Bucket, progress func(done int),
	check func(key string, data []byte, f *segment.File), unreferenced func(objstore.Object)) (Report, error) {
	var rep Report
	known := map[string]bool{}
	after := ""
	for {
		files, err := store.ListFiles(ctx, after, 500)
		if err != nil {
			return rep, err
		}
		if len(files) == 0 {
			break
		}
		for _, f := range files {
			known[f.Key] = true
			rep.Files++
			rep.Bytes += f.Size
			data, err := bucket.GetRange(ctx, f.Key, 0, -1)
			switch {
			case errors.Is(err, objstore.ErrNotFound) && !f.ReleasedAt.IsZero():
				// Unreferenced and being deleted: the object goes before
				// its record.
				rep.Releasing++
			case errors.Is(err, objstore.ErrNotFound):
				rep.Missing = append(rep.Missing, f.Key)
			case err != nil:
				return rep, fmt.Errorf("read %s: %w", f.Key, err)
			case int64(len(data)) != f.Size:
				rep.SizeMismatch = append(rep.SizeMismatch, f.Key)
			default:
				parsed, err := segment.Parse(data)
				if err != nil {
					rep.Corrupt = append(rep.Corrupt, f.Key)
				} else if check != nil && f.ReleasedAt.IsZero() {
					check(f.Key, data, parsed)
				}
			}
			if progress != nil {
				progress(rep.Files)
			}
		}
		after = files[len(files)-1].Key
	}
	for _, prefix := range []string{"files/", journal.Prefix} {
		err := bucket.List(ctx, prefix, func(o objstore.Object) error {
			if prefix == journal.Prefix {
				// Only journaled data files: not the empty entries
				// naming a file under files/.
				if e, ok := journal.Parse(o.Key); !ok || !e.Resident() {
					return nil
				}
			}
			if !known[o.Key] {
				rep.Unreferenced++
				if unreferenced != nil {
					unreferenced(o)
				}
			}
			return nil
		})
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}
