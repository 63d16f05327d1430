package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestBatchedReadPlans checks that the batched read statements of fetches
// (PartitionStates, StableStates) search partitions by primary key once
// per requested row and never scan a table, on a store that has been
// used (its query planner statistics in place): a scan of partitions is
// O(all partitions) per fetch.
func TestBatchedReadPlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tp, err := s.CreateTopic(ctx, "x", 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, query, row string
		args             func(i int) []any
	}{
		{"PartitionStates", sqlPartitionStates, "(?, ?, ?)", func(i int) []any { return []any{int64(i), tp.ID[:], int64(i % 100)} }},
		{"StableStates", sqlStableStates, "(?, ?, ?, ?)", func(i int) []any { return []any{int64(i), tp.ID[:], int64(i % 100), int64(0)} }},
	} {
		for _, n := range []int{1, 64, 256} {
			q := "EXPLAIN QUERY PLAN " + fmt.Sprintf(tc.query, tc.row+strings.Repeat(", "+tc.row, n-1))
			var args []any
			for i := range n {
				args = append(args, tc.args(i)...)
			}
			rows, err := s.r.QueryContext(ctx, q, args...)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			rows.Close()
			text := strings.Join(plan, "\n")
			if !strings.Contains(text, "SEARCH p USING PRIMARY KEY") {
				t.Errorf("%s, %d rows: no primary-key search of partitions:\n%s", tc.name, n, text)
			}
			for _, line := range plan {
				if strings.HasPrefix(line, "SCAN ") && !strings.Contains(line, "CONSTANT ROW") && line != "SCAN k" && !strings.HasPrefix(line, "SCAN k ") {
					t.Errorf("%s, %d rows: scans a table (%q):\n%s", tc.name, n, line, text)
				}
			}
		}
	}
}

// TestTopicsByNamePlan checks that TopicsByName searches the topics'
// name index once per name and never scans topics: a scan would make a
// Metadata request naming a few topics O(all topics).
func TestTopicsByNamePlan(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 50 {
		if _, err := s.CreateTopic(ctx, fmt.Sprintf("t%02d", i), 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.r.ExecContext(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+sqlTopicsByName, `["t01","t02","nope"]`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	text := strings.Join(plan, "\n")
	if !strings.Contains(text, "SEARCH t USING INDEX") {
		t.Errorf("no index search of topics:\n%s", text)
	}
	for _, line := range plan {
		if strings.HasPrefix(line, "SCAN t") {
			t.Errorf("scans topics (%q):\n%s", line, text)
		}
	}
}
