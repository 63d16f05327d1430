package metadata

import "context"

// JournalMark is how far one journal generation (one agent process's
// journaled files, see internal/journal) has been sequenced: every file
// of Agent's process Generation with a sequence number up to Sequence has
// been committed, or will never be. Recovery trusts it, not the file
// records, which retention and compaction later delete.
type JournalMark struct {
	Agent      string
	Generation uint64
	Sequence   uint64
}

// JournalMarks keeps the marks. A FileCommit with Journal set advances its
// generation's mark in the commit's own transaction, so a file and the
// mark that says it is sequenced are recorded together or not at all.
type JournalMarks interface {
	// JournalMarks returns the marks of agent's generations, by
	// generation; a generation with no mark has had nothing sequenced.
	JournalMarks(ctx context.Context, agent string) (map[uint64]uint64, error)
	// MarkJournal advances m's generation's mark to m.Sequence; a mark
	// already at or past it is left alone. Recovery calls it for a file
	// whose commit recorded nothing (every batch refused) and for one it
	// drops as corrupt.
	MarkJournal(ctx context.Context, m JournalMark) error
}
