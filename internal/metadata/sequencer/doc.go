// Package sequencer holds every rule by which a metadata backend decides
// what a write does, as pure Go shared by all backends (internal/metadata/
// sqlite, internal/metadata/postgres), so that they cannot drift apart:
//
//   - commit.go: how CommitFile sequences a file's batches into partition
//     logs (Commit, Plan): offsets, extents, missing partitions, idempotent
//     producers, transactional writes and markers;
//   - producer.go: the idempotent-producer sequence and epoch checks (State);
//   - json.go, recent.go: the stored forms of a producer's recent batches
//     (AppendRecentCompact, written now; JSON, written before; ParseRecent
//     reads both);
//   - txn.go: transactions: their stored form (TxnRow), versioned saves
//     (TxnWrites.SaveTransaction), completion (TxnWrites.CompleteTransaction),
//     staged offsets (TxnWrites.StageTxnOffsets), and the rules for
//     transactional writes and offsets (CheckTxnWrite, CheckTxnOffsets);
//   - read.go: what reads decide: the last stable offset and its safe read
//     order (StableState, StableOffset), extents from an offset;
//   - lifecycle.go: leases and fencing (AcquireLease, CheckLease,
//     CheckOwnerEpoch), log-start moves (AdvanceLogStart) and compaction's
//     extent swaps (Replace).
//
// A backend keeps only what is its own: its SQL, its locking and its clock.
// It opens the database transaction, takes its locks, and hands the
// sequencer a small value that reads and writes rows (CommitRows, TxnRows,
// ReplaceRows, StableRows); the sequencer calls it and decides. A typical CommitFile:
//
//	func (s *Store) CommitFile(ctx context.Context, c metadata.FileCommit) ([]metadata.BatchResult, error) {
//		tx := begin(ctx)            // the backend's transaction and locks
//		defer tx.Rollback()
//		res, err := sequencer.Commit(ctx, &commitRows{tx: tx}, c)
//		if err != nil {
//			return nil, err
//		}
//		return res, tx.Commit()
//	}
//
// The conformance suite (internal/metadata/metadatatest) is the judge of
// every backend; the rules here are what make passing it the same thing
// for all of them.
package sequencer
