package postgres

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	testutil2 "github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/sluicehq/sluice/internal/testutil"
)

func TestStatementName(t *testing.T) {
	for sql, want := range map[string]string{
		"SELECT id, name FROM topics WHERE name = $1":           "SELECT topics",
		"select next_offset\nfrom partitions where topic_id=$1": "SELECT partitions",
		"INSERT INTO files (key, size) VALUES ($1, $2)":         "INSERT files",
		"UPDATE partitions SET next_offset = $1":                "UPDATE partitions",
		"DELETE FROM extents WHERE file_id = $1":                "DELETE extents",
		"begin":                                                 "BEGIN",
		"WITH x AS (SELECT 1) SELECT * FROM x":                  "WITH",
		"SELECT pg_advisory_xact_lock($1)":                      "SELECT",
		"   ":                                                   "EMPTY",
		"SELECT count(*) FROM (SELECT 1 FROM groups) AS sub":    "SELECT",
	} {
		if got := statementName(sql); got != want {
			t.Errorf("statementName(%q) = %q, want %q", sql, got, want)
		}
	}
}

// A real store's statements are timed by name; a failing one is counted.
func TestTracerTimesStatements(t *testing.T) {
	pg := testutil.StartPostgres(t)
	s, err := Open(context.Background(), pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	count := func(statement string) uint64 {
		var m dto.Metric
		if err := statementSeconds.WithLabelValues(statement).(prometheus.Metric).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetHistogram().GetSampleCount()
	}
	before := count("INSERT topics")
	if _, err := s.CreateTopic(context.Background(), "traced", 1, nil); err != nil {
		t.Fatal(err)
	}
	if count("INSERT topics") <= before {
		t.Error("creating a topic timed no INSERT topics statement")
	}
	errsBefore := testutil2.ToFloat64(statementErrors.WithLabelValues("SELECT nosuchtable"))
	s.pool.Exec(context.Background(), "SELECT 1 FROM nosuchtable")
	if got := testutil2.ToFloat64(statementErrors.WithLabelValues("SELECT nosuchtable")); got != errsBefore+1 {
		t.Errorf("a failing statement counted %v errors, want %v", got, errsBefore+1)
	}
}
