package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// The read path's queries, run for every partition of every Fetch. They are
// prepared once on the read pool: parsed per call they were about a quarter
// of an agent's CPU while it served consumers (most of it SQLite's parser).
const (
	sqlPartitionState = `SELECT log_start, next_offset FROM partitions WHERE topic_id = ? AND partition = ?`
	// sqlExtents takes its LIMIT as a literal (%d): SQLite plans with the
	// value bound to a LIMIT parameter, so such a statement is re-prepared
	// (parsed again) on every execution.
	sqlExtents = extentSelect + `
		WHERE e.topic_id = ?1 AND e.partition = ?2 AND e.base_offset >= coalesce(
			(SELECT max(base_offset) FROM extents WHERE topic_id = ?1 AND partition = ?2 AND base_offset <= ?3), 0)
		ORDER BY e.base_offset LIMIT %d`
	sqlExtentAtTimestamp = extentSelect + `
		WHERE e.topic_id = ? AND e.partition = ? AND e.max_timestamp >= ?
		ORDER BY e.base_offset LIMIT 1`
	sqlFirstOpenTxn = `SELECT min(first_offset) FROM txn_open WHERE topic_id = ? AND partition = ?`
	sqlAbortedTxns  = `SELECT producer_id, first_offset, last_offset FROM txn_aborted
		WHERE topic_id = ? AND partition = ? AND last_offset >= ? AND first_offset < ? ORDER BY first_offset`
)

// readStmts are the prepared read-path statements. A *sql.Stmt is safe for
// concurrent use; database/sql prepares it on each pooled connection once.
type readStmts struct {
	partitionState, extentAtTimestamp, firstOpenTxn, abortedTxns *sql.Stmt
	// topicsByName answers TopicsByName (sqlite.go).
	topicsByName *sql.Stmt

	// stable answers StableStates (stable.go).
	stable rowsStmt
	// states answers PartitionStates (states.go).
	states rowsStmt

	mu      sync.Mutex        // guards extents
	extents map[int]*sql.Stmt // by LIMIT; callers use a few fixed limits
}

// maxExtentsStmts bounds how many LIMIT values get a prepared statement;
// others are run unprepared.
const maxExtentsStmts = 8

// extentsQuery runs the Extents query with the given LIMIT.
func (r *readStmts) extentsQuery(ctx context.Context, db *sql.DB, limit int, args ...any) (*sql.Rows, error) {
	r.mu.Lock()
	st, ok := r.extents[limit]
	if !ok && len(r.extents) < maxExtentsStmts {
		var err error
		if st, err = db.PrepareContext(ctx, fmt.Sprintf(sqlExtents, limit)); err != nil {
			r.mu.Unlock()
			return nil, fmt.Errorf("sqlite: prepare read statement: %w", err)
		}
		if r.extents == nil {
			r.extents = map[int]*sql.Stmt{}
		}
		r.extents[limit] = st
	}
	r.mu.Unlock()
	if st == nil {
		return db.QueryContext(ctx, fmt.Sprintf(sqlExtents, limit), args...)
	}
	return st.QueryContext(ctx, args...)
}

func (r *readStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&r.partitionState, sqlPartitionState},
		{&r.extentAtTimestamp, sqlExtentAtTimestamp},
		{&r.firstOpenTxn, sqlFirstOpenTxn},
		{&r.abortedTxns, sqlAbortedTxns},
		{&r.topicsByName, sqlTopicsByName},
	} {
		st, err := db.PrepareContext(ctx, p.query)
		if err != nil {
			return fmt.Errorf("sqlite: prepare read statement: %w", err)
		}
		*p.stmt = st
	}
	if err := r.states.prepare(ctx, db, sqlPartitionStates, 3, statesRowsLog); err != nil {
		return fmt.Errorf("sqlite: prepare partition states: %w", err)
	}
	if err := r.stable.prepare(ctx, db, sqlStableStates, 4, stableRowsLog); err != nil {
		return fmt.Errorf("sqlite: prepare stable states: %w", err)
	}
	return nil
}

func (r *readStmts) close() error {
	errs := []error{r.stable.close(), r.states.close()}
	r.mu.Lock()
	for _, st := range r.extents {
		errs = append(errs, st.Close())
	}
	r.extents = nil
	r.mu.Unlock()
	for _, st := range []*sql.Stmt{r.partitionState, r.extentAtTimestamp, r.firstOpenTxn, r.abortedTxns, r.topicsByName} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}
