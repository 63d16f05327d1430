package tableflow

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strconv"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// DLQ header keys: why a record was rejected and where it came from.
const (
	HeaderError     = "tableflow.error"
	HeaderTable     = "tableflow.table"
	HeaderTopic     = "tableflow.source.topic"
	HeaderPartition = "tableflow.source.partition"
	HeaderOffset    = "tableflow.source.offset"
)

// kafkaOpts turns a source cluster's config into franz-go options.
func kafkaOpts(sc SourceCluster) ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(sc.BootstrapServers...)}
	if t := sc.TLS; t != nil && (t.Enabled || t.CAFile != "" || t.CertFile != "") {
		tc := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // the user's choice
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return nil, err
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tableflow: %s holds no PEM certificate", t.CAFile)
			}
		}
		if t.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
			if err != nil {
				return nil, err
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if s := sc.SASL; s != nil {
		user, pass := os.Getenv(s.UsernameEnv), os.Getenv(s.PasswordEnv)
		switch s.Mechanism {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()))
		}
	}
	return opts, nil
}

// tableWorker ingests one table while its process holds the table's lease.
// It runs on one goroutine; nothing in it is shared.
type tableWorker struct {
	svc *Service
	cfg TableConfig
	log *slog.Logger
	dec decoder
	cl  *kgo.Client
	tbl *table.Table
	bt  *batch

	// committed are the offsets of the table's state in the store; pending
	// are those of the records consumed since (in bt or dlq).
	committed, pending map[int32]int64
	dlq                []*kgo.Record
	// firstPending is when the oldest record not yet committed was
	// consumed; zero when nothing is pending.
	firstPending time.Time
	// oldestTS is the Kafka timestamp of the oldest pending record.
	oldestTS  time.Time
	lastMaint time.Time
	// fits records, per writer schema (and Protobuf message), the table
	// schema ID its columns were last compared with and the outcome (nil,
	// or why the table cannot take them), so evolve compares schemas once
	// per schema rather than once per record.
	fits map[fitKey]fitResult
	// consumed is how many partitions of the topic are consumed; new ones
	// are looked for every partitionCheckEvery.
	consumed           int
	lastPartitionCheck time.Time
}

type fitResult struct {
	tableSchema int
	err         error
}

// fitKey names a writer schema's columns: the registry schema ID and the
// decoder's cached column slice (one per Protobuf message of a schema).
type fitKey struct {
	schemaID int
	cols     *Column
}

// partitionCheckEvery is a variable for tests.
var partitionCheckEvery = 10 * time.Second

// startOffset is where a partition is consumed from: its committed offset,
// else the table's start_offset.
func (w *tableWorker) startOffset(p int32) kgo.Offset {
	if off, ok := w.committed[p]; ok {
		return kgo.NewOffset().At(off)
	}
	if w.cfg.StartOffset == "latest" {
		return kgo.NewOffset().AtEnd()
	}
	return kgo.NewOffset().AtStart()
}

// addPartitions starts consuming partitions added to the topic since the
// worker started. Errors are logged and retried on the next check.
func (w *tableWorker) addPartitions(ctx context.Context) {
	w.lastPartitionCheck = time.Now()
	topics, err := kadm.NewClient(w.cl).ListTopics(ctx, w.cfg.SourceTopic)
	if err != nil {
		w.log.Warn("tableflow: list partitions", "err", err)
		return
	}
	td, ok := topics[w.cfg.SourceTopic]
	if !ok || td.Err != nil || len(td.Partitions) <= w.consumed {
		return
	}
	add := map[int32]kgo.Offset{}
	for p := range td.Partitions {
		if int(p) >= w.consumed {
			add[p] = w.startOffset(p)
		}
	}
	w.cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{w.cfg.SourceTopic: add})
	w.consumed = len(td.Partitions)
	w.log.Info("tableflow: consuming new partitions", "count", len(add))
}

func (w *tableWorker) run(ctx context.Context) error {
	var err error
	w.dec, err = newDecoder(w.cfg, w.svc.registry)
	if err != nil {
		return err
	}
	if w.tbl, err = w.svc.ensureTable(ctx, w.cfg, w.dec); err != nil {
		return err
	}
	st, err := w.svc.store.Load(ctx, w.cfg.Name)
	if err != nil {
		return err
	}
	w.committed, w.pending = st.Offsets, maps.Clone(st.Offsets)

	sc := w.svc.cluster(w.cfg.SourceCluster)
	opts, err := kafkaOpts(sc)
	if err != nil {
		return err
	}
	admin, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	adm := kadm.NewClient(admin)
	topics, err := adm.ListTopics(ctx, w.cfg.SourceTopic, w.cfg.DLQTopic)
	if err == nil && !topics.Has(w.cfg.DLQTopic) {
		// The DLQ topic is created on first use, with the broker's defaults.
		if _, cerr := adm.CreateTopic(ctx, 1, -1, nil, w.cfg.DLQTopic); cerr != nil && !errors.Is(cerr, kerr.TopicAlreadyExists) {
			w.log.Warn("tableflow: create DLQ topic", "topic", w.cfg.DLQTopic, "err", cerr)
		}
	}
	admin.Close()
	if err != nil {
		return fmt.Errorf("tableflow: list topic %s: %w", w.cfg.SourceTopic, err)
	}
	td, ok := topics[w.cfg.SourceTopic]
	if !ok || td.Err != nil {
		return fmt.Errorf("tableflow: topic %s: not found (%v)", w.cfg.SourceTopic, td.Err)
	}
	start := map[int32]kgo.Offset{}
	for p := range td.Partitions {
		start[p] = w.startOffset(p)
	}
	w.consumed = len(start)
	opts = append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{w.cfg.SourceTopic: start}),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.ProducerLinger(0),
	)
	if w.cl, err = kgo.NewClient(opts...); err != nil {
		return err
	}
	defer w.cl.Close()
	if w.bt, err = newBatch(w.tbl.Schema()); err != nil {
		return err
	}
	defer func() { w.bt.release() }()
	w.lastMaint, w.lastPartitionCheck = time.Now(), time.Now()
	w.log.Info("tableflow: ingesting", "topic", w.cfg.SourceTopic, "partitions", len(start), "metadata", w.tbl.MetadataLocation())

	freshness := time.Duration(w.svc.cfg.TargetFreshness)
	maintEvery := time.Duration(w.svc.cfg.Maintenance.Interval)
	for {
		deadline := time.Now().Add(time.Second)
		if !w.firstPending.IsZero() {
			deadline = w.firstPending.Add(freshness)
		}
		pctx, cancel := context.WithDeadline(ctx, deadline)
		fetches := w.cl.PollRecords(pctx, 10000)
		cancel()
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		for _, fe := range fetches.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) && !errors.Is(fe.Err, context.Canceled) {
				w.log.Warn("tableflow: fetch", "partition", fe.Partition, "err", fe.Err)
			}
		}
		var herr error
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			for _, rec := range fp.Records {
				if herr != nil {
					return
				}
				herr = w.handle(ctx, rec)
			}
			w.svc.metrics.lag.WithLabelValues(w.cfg.Name, strconv.Itoa(int(fp.Partition))).Set(float64(max(0, fp.HighWatermark-w.pending[fp.Partition])))
		})
		if herr != nil {
			return herr
		}
		if w.bt.bytes >= int64(w.svc.cfg.TargetFileSize) || (!w.firstPending.IsZero() && !time.Now().Before(w.firstPending.Add(freshness))) {
			if err := w.flush(ctx); err != nil {
				return err
			}
		}
		if time.Since(w.lastPartitionCheck) >= partitionCheckEvery {
			w.addPartitions(ctx)
		}
		if !w.svc.cfg.Maintenance.Disabled && time.Since(w.lastMaint) >= maintEvery {
			if err := w.maintain(ctx); err != nil {
				return err
			}
			w.lastMaint = time.Now()
		}
	}
}

// handle converts one record into the batch, or queues it for the DLQ.
func (w *tableWorker) handle(ctx context.Context, rec *kgo.Record) error {
	if ok, err := w.handleJSON(ctx, rec); ok || err != nil {
		return err
	}
	var r row
	var err error
	if rec.Value == nil {
		err = fmt.Errorf("%w: null value (tombstone)", errIncompatible)
	} else {
		var d decoded
		d, err = w.dec.decode(ctx, rec.Value)
		if err != nil && !errors.Is(err, errIncompatible) {
			return err // e.g. the registry is down: retry from the committed state
		}
		if err == nil {
			err = w.fit(ctx, d.schemaID, d.columns)
			if err != nil && !errors.Is(err, errIncompatible) {
				return err
			}
		}
		if err == nil {
			r, err = w.bt.convert(d.values, rec.Partition, rec.Offset, rec.Timestamp)
		}
	}
	if err != nil {
		w.dlq = append(w.dlq, w.dlqRecord(rec, err))
	} else {
		w.bt.add(r, len(rec.Key)+len(rec.Value))
	}
	w.took(rec)
	return nil
}

// handleJSON is the direct path for JSON records (batch.addJSON). It
// reports whether it took the record into the batch; when it did not (and
// err is nil), handle's general path decides, with the same outcome the
// general path always had.
func (w *tableWorker) handleJSON(ctx context.Context, rec *kgo.Record) (bool, error) {
	src, ok := w.dec.(jsonSource)
	if !ok || w.cfg.Format != "json" || rec.Value == nil || (w.bt.jsonTried && w.bt.json == nil) {
		return false, nil // the table has columns only the general path fills
	}
	payload, cols, id, ok, err := src.jsonPayload(ctx, rec.Value)
	if !ok || err != nil {
		return false, err
	}
	if err := w.fit(ctx, id, cols); err != nil {
		if errors.Is(err, errIncompatible) {
			err = nil // the general path produces the DLQ record
		}
		return false, err
	}
	if !w.bt.addJSON(payload, rec.Partition, rec.Offset, rec.Timestamp, len(rec.Key)+len(rec.Value)) {
		return false, nil
	}
	w.took(rec)
	return true, nil
}

// fit makes sure the table has the columns of a record's writer schema
// (none for inline schemas), evolving it once per schema and table schema;
// a writer schema the table cannot take is remembered with its reason
// (errIncompatible), so it is not worked out again for every record.
func (w *tableWorker) fit(ctx context.Context, schemaID int, cols []Column) error {
	if len(cols) == 0 {
		return nil
	}
	key := fitKey{schemaID, &cols[0]}
	if f, ok := w.fits[key]; ok && f.tableSchema == w.tbl.Schema().ID {
		return f.err
	}
	err := w.evolve(ctx, cols)
	if err != nil && !errors.Is(err, errIncompatible) {
		return err
	}
	if w.fits == nil {
		w.fits = map[fitKey]fitResult{}
	}
	w.fits[key] = fitResult{w.tbl.Schema().ID, err}
	return err
}

// took records that a record was handled (into the batch or the DLQ).
func (w *tableWorker) took(rec *kgo.Record) {
	w.pending[rec.Partition] = rec.Offset + 1
	if w.firstPending.IsZero() {
		w.firstPending, w.oldestTS = time.Now(), rec.Timestamp
	}
}

func (w *tableWorker) dlqRecord(rec *kgo.Record, reason error) *kgo.Record {
	hs := append([]kgo.RecordHeader(nil), rec.Headers...)
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderError, Value: []byte(reason.Error())},
		kgo.RecordHeader{Key: HeaderTable, Value: []byte(w.cfg.Name)},
		kgo.RecordHeader{Key: HeaderTopic, Value: []byte(rec.Topic)},
		kgo.RecordHeader{Key: HeaderPartition, Value: []byte(strconv.Itoa(int(rec.Partition)))},
		kgo.RecordHeader{Key: HeaderOffset, Value: []byte(strconv.FormatInt(rec.Offset, 10))},
	)
	return &kgo.Record{Topic: w.cfg.DLQTopic, Key: rec.Key, Value: rec.Value, Headers: hs, Timestamp: rec.Timestamp}
}

// evolve makes sure the table takes every column of a record's writer
// schema (see evolution for the rules). A change is committed after what
// is pending, so a snapshot's files all have one schema; a change Iceberg
// does not allow is errIncompatible.
func (w *tableWorker) evolve(ctx context.Context, cols []Column) error {
	next, err := evolution(w.tbl, cols)
	if err != nil || next == nil {
		return err
	}
	if err := w.flush(ctx); err != nil {
		return err
	}
	tx := w.tbl.NewTransaction()
	if err := tx.UpdateSchema(true, false).UnionByNameWith(recordSchema(cols)).Commit(); err != nil {
		return fmt.Errorf("tableflow: evolve schema: %w", err)
	}
	tbl, err := tx.Commit(ctx)
	if err != nil {
		return fmt.Errorf("tableflow: commit schema: %w", err)
	}
	w.tbl = tbl
	w.bt.release()
	if w.bt, err = newBatch(tbl.Schema()); err != nil {
		return err
	}
	w.svc.metrics.schemaChanges.WithLabelValues(w.cfg.Name).Inc()
	w.log.Info("tableflow: evolved schema", "schema_id", tbl.Schema().ID, "schema", tbl.Schema().String())
	return nil
}

// flush commits what is pending: DLQ records are produced first (so a
// crash can repeat them, never lose them), then the batch becomes a
// snapshot whose summary, and the store, hold the new offsets.
func (w *tableWorker) flush(ctx context.Context) error {
	if w.firstPending.IsZero() {
		return nil
	}
	m := w.svc.metrics
	if len(w.dlq) > 0 {
		if err := w.cl.ProduceSync(ctx, w.dlq...).FirstErr(); err != nil {
			return fmt.Errorf("tableflow: produce to DLQ %s: %w", w.cfg.DLQTopic, err)
		}
		m.dlq.WithLabelValues(w.cfg.Name).Add(float64(len(w.dlq)))
	}
	rows := w.bt.rows
	if rows > 0 {
		rdr, err := w.bt.reader()
		if err != nil {
			return err
		}
		defer rdr.Release()
		tx := w.tbl.NewTransaction()
		if err := tx.Append(ctx, rdr, iceberg.Properties{offsetsProperty: encodeOffsets(w.pending)}); err != nil {
			return fmt.Errorf("tableflow: append: %w", err)
		}
		tbl, err := tx.Commit(ctx)
		if err != nil {
			return fmt.Errorf("tableflow: commit: %w", err)
		}
		w.tbl = tbl
		if s := tbl.CurrentSnapshot(); s != nil && s.Summary != nil {
			n, _ := strconv.Atoi(s.Summary.Properties["added-data-files"])
			b, _ := strconv.Atoi(s.Summary.Properties["added-files-size"])
			m.files.WithLabelValues(w.cfg.Name).Add(float64(n))
			m.bytes.WithLabelValues(w.cfg.Name).Add(float64(b))
		}
	} else if err := w.svc.store.Commit(ctx, Commit{Name: w.cfg.Name, Owner: w.svc.owner, Prev: w.tbl.MetadataLocation(), Next: w.tbl.MetadataLocation(), Offsets: w.pending}); err != nil {
		return fmt.Errorf("tableflow: commit offsets: %w", err)
	}
	m.records.WithLabelValues(w.cfg.Name).Add(float64(rows))
	m.commits.WithLabelValues(w.cfg.Name, "append").Inc()
	m.freshness.WithLabelValues(w.cfg.Name).Observe(time.Since(w.oldestTS).Seconds())
	w.committed = maps.Clone(w.pending)
	w.dlq, w.firstPending = nil, time.Time{}
	return nil
}
