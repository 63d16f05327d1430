package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/metadata"
)

// Tables is the tableflow role as the console reads it: the tables its
// tableflow.yaml declares, and each table loaded through its Iceberg
// catalog, the same catalog the REST catalog (/v1/) and `sluice tables`
// read. Nothing here changes a table.
type Tables interface {
	// Sources returns the declared tables, in any order.
	Sources() []TableSource
	// LoadTable loads a table as the Iceberg catalog does; an error
	// wrapping catalog.ErrNoSuchTable before its first commit.
	LoadTable(ctx context.Context, ident table.Identifier) (*table.Table, error)
}

// TableSource is one table of tableflow.yaml: where its records come
// from.
type TableSource struct {
	Name          string
	SourceCluster string
	// Bootstrap is the source cluster's bootstrap servers (host:port).
	Bootstrap   []string
	SourceTopic string
	// Format is json, avro or protobuf; Subject names the registry
	// subject its schema comes from, if any.
	Format      string
	Subject     string
	PartitionBy []string
}

// offsetsProperty is the snapshot summary key in which tableflow records
// the Kafka offsets a snapshot includes: {"partition": next offset}.
const offsetsProperty = "sluice.kafka.offsets"

func (a *API) tables() (Tables, error) {
	if a.cfg.Tables == nil {
		return nil, &Error{Status: http.StatusNotImplemented, Code: "NOT_AVAILABLE", Message: "this agent does not run the tableflow role (--roles …,tableflow with --tableflow-config)"}
	}
	return a.cfg.Tables, nil
}

// HasTables reports whether the agent runs the tableflow role.
func (a *API) HasTables() bool { return a.cfg.Tables != nil }

// TableSummary is one table of GET /api/v1/tables.
type TableSummary struct {
	Name          string `json:"name"`
	SourceCluster string `json:"source_cluster"`
	SourceTopic   string `json:"source_topic"`
	Format        string `json:"format"`
	Subject       string `json:"subject,omitempty"`
	// State is "active" once the table has a snapshot, "created" with
	// none yet, "pending" before tableflow created it.
	State     string `json:"state"`
	Snapshots int    `json:"snapshots"`
	// LastCommitAt is the current snapshot's time; FreshnessSeconds how
	// long ago that was.
	LastCommitAt     time.Time `json:"last_commit_at,omitzero"`
	FreshnessSeconds *int64    `json:"freshness_seconds,omitempty"`
	Records          int64     `json:"records"`
	DataFiles        int64     `json:"data_files"`
	Bytes            int64     `json:"bytes"`
	// Lag is how many records of the source topic the table does not
	// hold yet, summed over partitions: present only when the source
	// cluster is this cluster (one of its bootstrap servers is a live
	// agent's address).
	Lag      *int64 `json:"lag,omitempty"`
	Location string `json:"location,omitempty"`
}

// TablePage is one page of GET /api/v1/tables.
type TablePage struct {
	Tables        []TableSummary `json:"tables"`
	Total         int            `json:"total"`
	NextPageToken string         `json:"next_page_token,omitempty"`
}

// TableColumn is one column of a table's schema; nested fields are
// listed after their parent with dotted names.
type TableColumn struct {
	ID       int    `json:"id"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	Required bool   `json:"required"`
	Doc      string `json:"doc,omitempty"`
}

// TablePartitionField is one field of a partition spec.
type TablePartitionField struct {
	SourceIDs []int  `json:"source_ids"`
	Source    string `json:"source"`
	FieldID   int    `json:"field_id"`
	Name      string `json:"name"`
	Transform string `json:"transform"`
}

// TableSnapshot is one snapshot of a table with the Kafka offsets its
// summary records.
type TableSnapshot struct {
	SnapshotID   int64     `json:"snapshot_id"`
	ParentID     *int64    `json:"parent_id,omitempty"`
	Sequence     int64     `json:"sequence_number"`
	Timestamp    time.Time `json:"timestamp"`
	Operation    string    `json:"operation"`
	AddedFiles   int64     `json:"added_files"`
	AddedRecords int64     `json:"added_records"`
	TotalRecords int64     `json:"total_records"`
	// KafkaOffsets is the next offset of each source partition the
	// snapshot includes (partition → offset).
	KafkaOffsets map[string]int64  `json:"kafka_offsets,omitempty"`
	Summary      map[string]string `json:"summary,omitempty"`
}

// TableDetail is the answer of GET /api/v1/tables/{name}.
type TableDetail struct {
	TableSummary
	MetadataLocation string                `json:"metadata_location,omitempty"`
	FormatVersion    int                   `json:"format_version,omitempty"`
	SchemaID         int                   `json:"schema_id"`
	Columns          []TableColumn         `json:"columns"`
	SpecID           int                   `json:"spec_id"`
	Partitioning     []TablePartitionField `json:"partition_spec"`
	// PartitionLag is the lag per source partition (with Lag).
	PartitionLag []TablePartitionLag `json:"partition_lag,omitempty"`
	// SnapshotsShown are the most recent snapshots, newest first.
	SnapshotsShown []TableSnapshot `json:"recent_snapshots"`
}

// TablePartitionLag is one source partition's lag.
type TablePartitionLag struct {
	Partition     int32 `json:"partition"`
	TableOffset   int64 `json:"table_offset"`
	HighWatermark int64 `json:"high_watermark"`
	Lag           int64 `json:"lag"`
}

// recentSnapshots bounds the snapshots a table's detail lists.
const recentSnapshots = 20

// ListTables returns one page of the declared tables, searched and
// paged on the server, each loaded from the catalog.
func (a *API) ListTables(ctx context.Context, q ListQuery) (TablePage, error) {
	tf, err := a.tables()
	if err != nil {
		return TablePage{}, err
	}
	all := tf.Sources()
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	idx, total, next, err := page(len(all), func(i int) string { return all[i].Name }, q)
	if err != nil {
		return TablePage{}, err
	}
	pg := TablePage{Tables: []TableSummary{}, Total: total, NextPageToken: next}
	local := a.localBootstrap(ctx)
	for _, i := range idx {
		d, err := a.describeTable(ctx, tf, all[i], local, false)
		if err != nil {
			return TablePage{}, err
		}
		pg.Tables = append(pg.Tables, d.TableSummary)
	}
	return pg, nil
}

// Table describes one declared table: its schema with field IDs, its
// partition spec, its recent snapshots with their Kafka offsets, and
// its lag when the source is this cluster.
func (a *API) Table(ctx context.Context, name string) (TableDetail, error) {
	tf, err := a.tables()
	if err != nil {
		return TableDetail{}, err
	}
	for _, s := range tf.Sources() {
		if s.Name == name {
			return a.describeTable(ctx, tf, s, a.localBootstrap(ctx), true)
		}
	}
	return TableDetail{}, notFound("table %q is not in this agent's tableflow.yaml", name)
}

func (a *API) describeTable(ctx context.Context, tf Tables, src TableSource, local map[string]bool, detail bool) (TableDetail, error) {
	d := TableDetail{TableSummary: TableSummary{Name: src.Name, SourceCluster: src.SourceCluster, SourceTopic: src.SourceTopic,
		Format: src.Format, Subject: src.Subject, State: "pending"}, Columns: []TableColumn{}, Partitioning: []TablePartitionField{},
		SnapshotsShown: []TableSnapshot{}}
	tbl, err := tf.LoadTable(ctx, strings.Split(src.Name, "."))
	var offsets map[string]int64
	switch {
	case errors.Is(err, catalog.ErrNoSuchTable):
	case err != nil:
		return TableDetail{}, fmt.Errorf("load table %s: %w", src.Name, err)
	default:
		meta := tbl.Metadata()
		d.State, d.Location, d.Snapshots = "created", meta.Location(), len(meta.Snapshots())
		if cur := meta.CurrentSnapshot(); cur != nil {
			d.State = "active"
			d.LastCommitAt = time.UnixMilli(cur.TimestampMs).UTC()
			fresh := int64(time.Since(d.LastCommitAt) / time.Second)
			d.FreshnessSeconds = &fresh
			if cur.Summary != nil {
				p := cur.Summary.Properties
				d.Records, d.DataFiles, d.Bytes = intProp(p, "total-records"), intProp(p, "total-data-files"), intProp(p, "total-files-size")
				offsets = decodeTableOffsets(p[offsetsProperty])
			}
		}
		if detail {
			d.MetadataLocation, d.FormatVersion = tbl.MetadataLocation(), meta.Version()
			sc := meta.CurrentSchema()
			d.SchemaID = sc.ID
			d.Columns = columns(nil, sc.Fields(), d.Columns)
			spec := meta.PartitionSpec()
			d.SpecID = spec.ID()
			for _, f := range spec.Fields() {
				pf := TablePartitionField{SourceIDs: f.SourceIDs, FieldID: f.FieldID, Name: f.Name, Transform: f.Transform.String()}
				var names []string
				for _, id := range f.SourceIDs {
					if nm, ok := sc.FindColumnName(id); ok {
						names = append(names, nm)
					}
				}
				pf.Source = strings.Join(names, ",")
				d.Partitioning = append(d.Partitioning, pf)
			}
			snaps := meta.Snapshots()
			for i := len(snaps) - 1; i >= 0 && len(d.SnapshotsShown) < recentSnapshots; i-- {
				d.SnapshotsShown = append(d.SnapshotsShown, snapshotOf(snaps[i]))
			}
		}
	}
	if anyLocal(local, src.Bootstrap) {
		lag, parts, err := a.tableLag(ctx, src.SourceTopic, offsets)
		if err != nil {
			return TableDetail{}, err
		}
		if parts != nil {
			d.Lag = &lag
			if detail {
				d.PartitionLag = parts
			}
		}
	}
	return d, nil
}

// columns flattens fields (and their nested struct, list and map
// fields) into out, with dotted names under prefix.
func columns(prefix []string, fs []iceberg.NestedField, out []TableColumn) []TableColumn {
	for _, f := range fs {
		path := append(append([]string(nil), prefix...), f.Name)
		out = append(out, TableColumn{ID: f.ID, Name: strings.Join(path, "."), Type: f.Type.String(), Required: f.Required, Doc: f.Doc})
		if nt, ok := f.Type.(iceberg.NestedType); ok {
			out = columns(path, nt.Fields(), out)
		}
	}
	return out
}

func snapshotOf(s table.Snapshot) TableSnapshot {
	out := TableSnapshot{SnapshotID: s.SnapshotID, ParentID: s.ParentSnapshotID, Sequence: s.SequenceNumber,
		Timestamp: time.UnixMilli(s.TimestampMs).UTC()}
	if s.Summary != nil {
		p := s.Summary.Properties
		out.Operation = string(s.Summary.Operation)
		out.AddedFiles, out.AddedRecords, out.TotalRecords = intProp(p, "added-data-files"), intProp(p, "added-records"), intProp(p, "total-records")
		out.KafkaOffsets = decodeTableOffsets(p[offsetsProperty])
		out.Summary = map[string]string{}
		for k, v := range p {
			if k != offsetsProperty {
				out.Summary[k] = v
			}
		}
	}
	return out
}

func intProp(p iceberg.Properties, key string) int64 {
	n, _ := strconv.ParseInt(p[key], 10, 64)
	return n
}

// decodeTableOffsets reads the offsets property (nil when absent or
// malformed).
func decodeTableOffsets(s string) map[string]int64 {
	if s == "" {
		return nil
	}
	var m map[string]int64
	if json.Unmarshal([]byte(s), &m) != nil {
		return nil
	}
	return m
}

// localBootstrap is the set of this cluster's Kafka addresses: each live
// agent's host:port and advertised listeners.
func (a *API) localBootstrap(ctx context.Context) map[string]bool {
	agents, err := a.cfg.Store.LiveAgents(ctx, a.cfg.AgentTTL)
	if err != nil {
		return nil
	}
	out := map[string]bool{}
	for _, ag := range agents {
		out[net.JoinHostPort(ag.Host, strconv.Itoa(int(ag.Port)))] = true
		for _, l := range strings.Split(ag.Listeners, ",") {
			if _, hp, ok := strings.Cut(l, "://"); ok {
				out[hp] = true
			}
		}
	}
	return out
}

func anyLocal(local map[string]bool, bootstrap []string) bool {
	for _, b := range bootstrap {
		if local[b] {
			return true
		}
	}
	return false
}

// tableLag compares the table's offsets with the source topic's high
// watermarks in this cluster's metadata store. A partition the table has
// no offset for lags by all it holds. parts is nil when the topic does
// not exist here.
func (a *API) tableLag(ctx context.Context, topic string, offsets map[string]int64) (int64, []TablePartitionLag, error) {
	t, err := a.cfg.Store.Topic(ctx, topic)
	if errors.Is(err, metadata.ErrUnknownTopic) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	var total int64
	parts := []TablePartitionLag{}
	for p := int32(0); p < t.Partitions; p++ {
		st, err := a.cfg.Store.PartitionState(ctx, t.ID, p)
		if err != nil {
			return 0, nil, err
		}
		at, ok := offsets[strconv.Itoa(int(p))]
		if !ok || at < st.LogStartOffset {
			at = st.LogStartOffset
		}
		lag := max(st.HighWatermark-at, 0)
		total += lag
		parts = append(parts, TablePartitionLag{Partition: p, TableOffset: at, HighWatermark: st.HighWatermark, Lag: lag})
	}
	return total, parts, nil
}

func (a *API) serveTables(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	q, err := parseListQuery(r)
	if err != nil {
		return err
	}
	pg, err := a.ListTables(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pg)
	return nil
}

func (a *API) serveTable(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	d, err := a.Table(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}
