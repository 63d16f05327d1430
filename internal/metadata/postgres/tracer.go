package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// Statement latencies and errors, for every Store in the process: a
// histogram and an error counter by statement, named by its leading
// keyword and first table ("SELECT partitions", "INSERT files", "BEGIN",
// "COMMIT"; a batch is "BATCH"). The agent registers Collectors.
var (
	statementSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_metadata_statement_seconds",
		Help:    "PostgreSQL statement latency by statement (leading keyword and first table; BATCH for a pipelined batch).",
		Buckets: prometheus.ExponentialBuckets(0.0002, 2, 18)}, []string{"statement"})
	statementErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_metadata_statement_errors_total",
		Help: "PostgreSQL statements that failed, by statement."}, []string{"statement"})
)

// Collectors are the metadata store's metrics, for the agent to register.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{statementSeconds, statementErrors, pools}
}

// tracer times statements (pgx.QueryTracer, pgx.BatchTracer).
type tracer struct{}

type traceKey struct{}

type traceStart struct {
	statement string
	at        time.Time
}

func (tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, traceKey{}, traceStart{statement: statementName(d.SQL), at: time.Now()})
}

func (tracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	observe(ctx, d.Err)
}

func (tracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return context.WithValue(ctx, traceKey{}, traceStart{statement: "BATCH", at: time.Now()})
}

func (tracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (tracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchEndData) {
	observe(ctx, d.Err)
}

func observe(ctx context.Context, err error) {
	st, ok := ctx.Value(traceKey{}).(traceStart)
	if !ok {
		return
	}
	statementSeconds.WithLabelValues(st.statement).Observe(time.Since(st.at).Seconds())
	if err != nil {
		statementErrors.WithLabelValues(st.statement).Inc()
	}
}

// statementName names a statement by its leading keyword and, for SELECT,
// INSERT, UPDATE and DELETE, the first table it names, so the label's
// values stay few (the store's statements, not their arguments).
func statementName(sql string) string {
	f := strings.Fields(strings.ToUpper(sql))
	if len(f) == 0 {
		return "EMPTY"
	}
	kw := f[0]
	// ident is a table name token, or "" for anything else (a subquery,
	// a parameter).
	ident := func(tok string) string {
		tok, _, _ = strings.Cut(strings.ToLower(tok), "(") // topics(id, …
		tok = strings.TrimRight(tok, ",;)")
		if tok == "" {
			return ""
		}
		for i, r := range tok {
			if !(r == '_' || r >= 'a' && r <= 'z' || i > 0 && (r == '.' || r >= '0' && r <= '9')) {
				return ""
			}
		}
		return tok
	}
	after := func(word string) string {
		for i, w := range f[:len(f)-1] {
			if w == word {
				return ident(f[i+1])
			}
		}
		return ""
	}
	var table string
	switch kw {
	case "SELECT", "DELETE":
		table = after("FROM")
	case "INSERT":
		table = after("INTO")
	case "UPDATE":
		if len(f) > 1 {
			table = ident(f[1])
		}
	case "WITH":
		kw = "WITH"
	}
	if table == "" {
		return kw
	}
	return kw + " " + table
}
