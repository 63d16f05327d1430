package filetool

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/journal"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/segment"
)

// ScrubReport is what Scrub found: Verify's report, plus the index checks
// and the unreferenced objects by name.
type ScrubReport struct {
	Report
	// Extents is the number of index extents checked against their files.
	Extents int
	// IndexErrors describes each extent that does not match its file: a
	// byte range outside the file or across chunks, a chunk of another
	// partition, or bytes that are not whole batches.
	IndexErrors []string
	// Orphans are the data files (under files/, or journaled under
	// journal/) that no file record names, with their age. A journaled
	// one is not the sweep's: it waits for sequencing or recovery.
	Orphans []Orphan
}

// Orphan is an object no file record names.
type Orphan struct {
	Key string
	Age time.Duration
	// Journaled is set for a journaled (lightning) file: acknowledged
	// and waiting to be sequenced, or left for recovery; the orphan
	// sweep never deletes it.
	Journaled bool
}

// OK reports whether every referenced file is present, valid and agrees
// with the index.
func (r ScrubReport) OK() bool { return r.Report.OK() && len(r.IndexErrors) == 0 }

// Scrub checks every file the store has a record of against its checksum
// (as Verify does) and every extent of the index against the file it
// names: its bytes must lie inside one chunk of the same topic and
// partition and be whole record batches. It lists the objects no record
// names (uploads in flight, or orphans the sweep deletes once older than
// its grace period).
func Scrub(ctx context.Context, store metadata.Store, bucket objstore.Bucket, now time.Time, progress func(done int)) (ScrubReport, error) {
	var rep ScrubReport
	byFile, err := extentsByFile(ctx, store)
	if err != nil {
		return rep, err
	}
	check := func(key string, data []byte, f *segment.File) {
		for _, e := range byFile[key] {
			rep.Extents++
			if msg := checkExtent(e, f); msg != "" {
				rep.IndexErrors = append(rep.IndexErrors, fmt.Sprintf("%s: extent %s/%d [%d, %d) bytes [%d, +%d): %s",
					key, e.TopicID.Base64(), e.Partition, e.BaseOffset, e.EndOffset, e.ByteOffset, e.ByteLength, msg))
			}
		}
		delete(byFile, key)
	}
	orphan := func(o objstore.Object) {
		var age time.Duration
		if !o.ModTime.IsZero() {
			age = now.Sub(o.ModTime)
		}
		rep.Orphans = append(rep.Orphans, Orphan{Key: o.Key, Age: age, Journaled: strings.HasPrefix(o.Key, journal.Prefix)})
	}
	rep.Report, err = verify(ctx, store, bucket, progress, check, orphan)
	if err != nil {
		return rep, err
	}
	// Extents whose file has no record, or whose file failed the checks
	// above (and so was reported already), are left; the former are index
	// errors of their own.
	reported := map[string]bool{}
	for _, k := range rep.Missing {
		reported[k] = true
	}
	for _, k := range rep.SizeMismatch {
		reported[k] = true
	}
	for _, k := range rep.Corrupt {
		reported[k] = true
	}
	keys := make([]string, 0, len(byFile))
	for k := range byFile {
		if !reported[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		rep.IndexErrors = append(rep.IndexErrors, fmt.Sprintf("%s: referenced by %d extents but has no file record", k, len(byFile[k])))
	}
	return rep, nil
}

// extentsByFile reads the whole index: every extent of every partition of
// every topic, by file.
func extentsByFile(ctx context.Context, store metadata.Store) (map[string][]metadata.Extent, error) {
	out := map[string][]metadata.Extent{}
	topics, err := store.ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range topics {
		for p := int32(0); p < t.Partitions; p++ {
			st, err := store.PartitionState(ctx, t.ID, p)
			if err != nil {
				return nil, err
			}
			for from := st.LogStartOffset; from < st.HighWatermark; {
				exts, err := store.Extents(ctx, t.ID, p, from, 1000)
				if err != nil {
					return nil, err
				}
				if len(exts) == 0 {
					break
				}
				for _, e := range exts {
					out[e.FileKey] = append(out[e.FileKey], e)
				}
				next := exts[len(exts)-1].EndOffset
				if next <= from {
					return nil, fmt.Errorf("index of %s/%d does not advance at offset %d", t.Name, p, from)
				}
				from = next
			}
		}
	}
	return out, nil
}

// checkExtent says what is wrong with e against f, or "".
func checkExtent(e metadata.Extent, f *segment.File) string {
	if e.ByteOffset < 0 || e.ByteLength <= 0 {
		return "empty or negative byte range"
	}
	for i, c := range f.Entries {
		start, end := int64(c.Offset), int64(c.Offset)+int64(c.Length)
		if e.ByteOffset < start || e.ByteOffset >= end {
			continue
		}
		if e.ByteOffset+e.ByteLength > end {
			return fmt.Sprintf("runs past the end of chunk %d", i)
		}
		if metadata.TopicID(c.TopicID) != e.TopicID || c.Partition != e.Partition {
			return fmt.Sprintf("chunk %d belongs to %s/%d", i, metadata.TopicID(c.TopicID).Base64(), c.Partition)
		}
		// Whole batches, from a batch boundary of the chunk to another.
		chunk := f.Chunk(i)
		pos := start
		for pos < e.ByteOffset {
			raw, rest, err := records.Next(chunk)
			if err != nil {
				return fmt.Sprintf("chunk %d unreadable at byte %d: %v", i, pos, err)
			}
			pos += int64(len(raw))
			chunk = rest
		}
		if pos != e.ByteOffset {
			return "does not start at a batch boundary"
		}
		span := chunk[:e.ByteLength]
		for len(span) > 0 {
			_, rest, err := records.Next(span)
			if err != nil {
				return fmt.Sprintf("not whole batches: %v", err)
			}
			span = rest
		}
		return ""
	}
	return "lies outside every chunk of the file"
}
