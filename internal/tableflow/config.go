package tableflow

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is a tableflow.yaml file: where records come from, which tables they
// become, and where the tables live.
type Config struct {
	// SourceClusters are the Kafka clusters tables read from.
	SourceClusters []SourceCluster `yaml:"source_clusters"`
	// Tables are the Iceberg tables to maintain, one per source topic.
	Tables []TableConfig `yaml:"tables"`
	// DestinationBucketURL is the bucket the tables live in (gocloud.dev/blob
	// URL: file:///dir, s3://bucket?region=..., mem://).
	DestinationBucketURL string `yaml:"destination_bucket_url"`
	// MetadataURL is the store holding the tables' state: sqlite:///file.db
	// or postgres://user:pass@host/db.
	MetadataURL string `yaml:"metadata_url"`
	// SchemaRegistryURL is a Confluent-compatible schema registry, needed by
	// tables whose schema comes from a subject.
	SchemaRegistryURL string `yaml:"schema_registry_url"`
	// TargetFreshness bounds how long a consumed record waits before it is
	// committed to its table (default 1m).
	TargetFreshness Duration `yaml:"target_freshness"`
	// TargetFileSize is the size a data file is flushed at, and the size
	// compaction merges small files up to (default 128MiB).
	TargetFileSize ByteSize `yaml:"target_file_size"`
	// Maintenance tunes compaction, expiry and orphan cleanup.
	Maintenance MaintenanceConfig `yaml:"maintenance"`
	// ExternalCatalogs are Iceberg SQL catalogs every table is also
	// registered in, after each of its commits.
	ExternalCatalogs []ExternalCatalogConfig `yaml:"external_catalogs"`
}

// ExternalCatalogConfig is an external Iceberg catalog the tables are
// registered in: the JDBC/SQL catalog schema (iceberg_tables and
// iceberg_namespace_properties) that Spark's, Trino's and PyIceberg's JDBC
// or SQL catalogs and iceberg-go's catalog/sql read.
type ExternalCatalogConfig struct {
	// Type is the catalog kind: sql.
	Type string `yaml:"type"`
	// URI is the catalog database: sqlite:///path/catalog.db or
	// postgres://user:pass@host/db.
	URI string `yaml:"uri"`
	// Name is the catalog_name the rows are written under: the name the
	// engines give the catalog.
	Name string `yaml:"name"`
}

// SourceCluster is one Kafka cluster.
type SourceCluster struct {
	Name             string   `yaml:"name"`
	BootstrapServers []string `yaml:"bootstrap_servers"`
	TLS              *TLS     `yaml:"tls"`
	SASL             *SASL    `yaml:"sasl"`
}

// TLS configures TLS to the source cluster. Files are PEM.
type TLS struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASL configures SASL to the source cluster. Credentials are read from the
// named environment variables, never from the file.
type SASL struct {
	Mechanism   string `yaml:"mechanism"` // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	UsernameEnv string `yaml:"username_env"`
	PasswordEnv string `yaml:"password_env"`
}

// TableConfig is one topic → table mapping.
type TableConfig struct {
	// Name is the destination table, "namespace.table".
	Name          string `yaml:"name"`
	SourceCluster string `yaml:"source_cluster"`
	SourceTopic   string `yaml:"source_topic"`
	// Format is json, avro or protobuf.
	Format string `yaml:"format"`
	// Schema declares the columns inline (json without a registry).
	Schema *InlineSchema `yaml:"schema"`
	// AvroSchema is an inline Avro record schema (avro only); records are
	// raw Avro, without a header.
	AvroSchema string `yaml:"avro_schema"`
	// ProtoSchema is an inline .proto file (protobuf only); records are
	// raw Protobuf messages of Message, without a header.
	ProtoSchema string `yaml:"proto_schema"`
	// Message is the Protobuf message (full or package-relative name) a
	// proto_schema's records hold, and a registry subject's table starts
	// with; default the file's first message.
	Message string `yaml:"message"`
	// Subject names the registry subject holding the schema (Avro,
	// Protobuf or JSON Schema, as the format says); records carry the
	// Confluent wire header (magic byte 0, 4-byte schema ID, and for
	// Protobuf the message-index list), and the schema each record names
	// is the one it is decoded with. New optional fields in a newer
	// schema become new columns.
	Subject string `yaml:"subject"`
	// PartitionBy is the partition spec, e.g. ["day(ts)", "identity(region)",
	// "bucket(16, user_id)"].
	PartitionBy []string `yaml:"partition_by"`
	// DLQTopic receives records that cannot be converted (default
	// "<source_topic>.dlq").
	DLQTopic string `yaml:"dlq_topic"`
	// StartOffset is where partitions without committed state start:
	// earliest (default) or latest.
	StartOffset string `yaml:"start_offset"`
	// Retention drops rows whose RetentionColumn (a timestamp or date
	// column, default the column of the first time partition) is older
	// than this, at whole-day granularity; 0 keeps everything.
	Retention       Duration `yaml:"retention"`
	RetentionColumn string   `yaml:"retention_column"`
}

// InlineSchema declares a table's columns.
type InlineSchema struct {
	Fields []FieldConfig `yaml:"fields"`
}

// FieldConfig is one column. Types: boolean, int, long, float, double,
// string, binary, date, timestamp (microseconds, UTC; JSON accepts RFC 3339
// strings or epoch milliseconds).
type FieldConfig struct {
	Name     string `yaml:"name"`
	Type     string `yaml:"type"`
	ID       int    `yaml:"id"`
	Required bool   `yaml:"required"`
}

// MaintenanceConfig tunes the background table services.
type MaintenanceConfig struct {
	// Interval between maintenance passes per table (default 1m).
	Interval Duration `yaml:"interval"`
	// CompactionMinFiles is how many small files a partition needs before it
	// is compacted (default 4).
	CompactionMinFiles int `yaml:"compaction_min_files"`
	// KeepSnapshots and SnapshotMaxAge bound snapshot history: snapshots
	// beyond the newest KeepSnapshots that are older than SnapshotMaxAge are
	// expired (defaults 10 and 1h).
	KeepSnapshots  int      `yaml:"keep_snapshots"`
	SnapshotMaxAge Duration `yaml:"snapshot_max_age"`
	// OrphanGracePeriod is how old an unreferenced file must be before it is
	// deleted (default 1h); it must exceed the longest write.
	OrphanGracePeriod Duration `yaml:"orphan_grace_period"`
	// Disabled turns maintenance off.
	Disabled bool `yaml:"disabled"`
}

// Duration is a time.Duration written as "90s", "1m".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: bad duration %q: %w", n.Line, n.Value, err)
	}
	*d = Duration(v)
	return nil
}

// ByteSize is a size written as "64MiB", "1GB" or a number of bytes.
type ByteSize int64

var sizeRe = regexp.MustCompile(`^([0-9]+)\s*([KMGT]i?B|B)?$`)

// UnmarshalYAML parses a size.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	m := sizeRe.FindStringSubmatch(strings.TrimSpace(n.Value))
	if m == nil {
		return fmt.Errorf("line %d: bad size %q (want e.g. 64MiB)", n.Line, n.Value)
	}
	v, _ := strconv.ParseInt(m[1], 10, 64)
	mult := map[string]int64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m[2]]
	*b = ByteSize(v * mult)
	return nil
}

// LoadConfig reads and validates a config file.
func LoadConfig(path string) (*Config, error) {
	return LoadConfigInheriting(path, "")
}

// LoadConfigInheriting reads and validates a config file whose empty
// metadata_url means metadataURL: the tableflow role of an agent keeps its
// tables' state in the agent's own metadata store (its tables are named
// tableflow_*) unless the file names another.
func LoadConfigInheriting(path, metadataURL string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := parseConfig(data, metadataURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses a config strictly (unknown keys are errors), applies
// defaults and validates it.
func ParseConfig(data []byte) (*Config, error) {
	return parseConfig(data, "")
}

func parseConfig(data []byte, metadataURL string) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if cfg.MetadataURL == "" {
		cfg.MetadataURL = metadataURL
	}
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func (c *Config) applyDefaults() {
	if c.TargetFreshness == 0 {
		c.TargetFreshness = Duration(time.Minute)
	}
	if c.TargetFileSize == 0 {
		c.TargetFileSize = 128 << 20
	}
	m := &c.Maintenance
	if m.Interval == 0 {
		m.Interval = Duration(time.Minute)
	}
	if m.CompactionMinFiles == 0 {
		m.CompactionMinFiles = 4
	}
	if m.KeepSnapshots == 0 {
		m.KeepSnapshots = 10
	}
	if m.SnapshotMaxAge == 0 {
		m.SnapshotMaxAge = Duration(time.Hour)
	}
	if m.OrphanGracePeriod == 0 {
		m.OrphanGracePeriod = Duration(time.Hour)
	}
	for i := range c.Tables {
		t := &c.Tables[i]
		if t.DLQTopic == "" {
			t.DLQTopic = t.SourceTopic + ".dlq"
		}
		if t.StartOffset == "" {
			t.StartOffset = "earliest"
		}
		if t.SourceCluster == "" && len(c.SourceClusters) == 1 {
			t.SourceCluster = c.SourceClusters[0].Name
		}
	}
}

var (
	identRe     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	tableNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate reports every problem in the config at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.DestinationBucketURL == "" {
		bad("destination_bucket_url is required")
	}
	if c.MetadataURL == "" {
		bad("metadata_url is required (sqlite:///path/tableflow.db or postgres://...)")
	} else if !strings.HasPrefix(c.MetadataURL, "sqlite://") && !strings.HasPrefix(c.MetadataURL, "postgres://") && !strings.HasPrefix(c.MetadataURL, "postgresql://") {
		bad("metadata_url %q: want sqlite:///path or postgres://", c.MetadataURL)
	}
	if len(c.SourceClusters) == 0 {
		bad("source_clusters: at least one cluster is required")
	}
	clusters := map[string]bool{}
	for i, sc := range c.SourceClusters {
		if sc.Name == "" {
			bad("source_clusters[%d]: name is required", i)
		}
		if clusters[sc.Name] {
			bad("source_clusters[%d]: duplicate name %q", i, sc.Name)
		}
		clusters[sc.Name] = true
		if len(sc.BootstrapServers) == 0 {
			bad("source_clusters[%d] (%s): bootstrap_servers is required", i, sc.Name)
		}
		if s := sc.SASL; s != nil {
			switch s.Mechanism {
			case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
			default:
				bad("source_clusters[%d] (%s): sasl.mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", i, sc.Name, s.Mechanism)
			}
			if s.UsernameEnv == "" || s.PasswordEnv == "" {
				bad("source_clusters[%d] (%s): sasl needs username_env and password_env", i, sc.Name)
			}
		}
	}
	if len(c.Tables) == 0 {
		bad("tables: at least one table is required")
	}
	names := map[string]bool{}
	for i, t := range c.Tables {
		where := fmt.Sprintf("tables[%d] (%s)", i, t.Name)
		if !tableNameRe.MatchString(t.Name) {
			bad("%s: name must be namespace.table (letters, digits, _)", where)
		}
		if names[t.Name] {
			bad("%s: duplicate table name", where)
		}
		names[t.Name] = true
		if !clusters[t.SourceCluster] {
			bad("%s: source_cluster %q is not in source_clusters", where, t.SourceCluster)
		}
		if t.SourceTopic == "" {
			bad("%s: source_topic is required", where)
		}
		if t.DLQTopic == t.SourceTopic {
			bad("%s: dlq_topic must differ from source_topic", where)
		}
		if t.StartOffset != "earliest" && t.StartOffset != "latest" {
			bad("%s: start_offset %q: want earliest or latest", where, t.StartOffset)
		}
		sources := 0
		for _, set := range []bool{t.Schema != nil, t.AvroSchema != "", t.ProtoSchema != "", t.Subject != ""} {
			if set {
				sources++
			}
		}
		if sources != 1 {
			bad("%s: give exactly one of schema, avro_schema, proto_schema or subject", where)
		}
		if t.Subject != "" && c.SchemaRegistryURL == "" {
			bad("%s: subject %q needs schema_registry_url", where, t.Subject)
		}
		if t.Message != "" && t.Format != "protobuf" {
			bad("%s: message is for protobuf tables", where)
		}
		switch t.Format {
		case "json":
			if t.AvroSchema != "" || t.ProtoSchema != "" {
				bad("%s: json tables take schema.fields or subject", where)
			}
			if t.Schema != nil && len(t.Schema.Fields) == 0 {
				bad("%s: schema.fields is empty", where)
			}
		case "avro":
			if t.Schema != nil || t.ProtoSchema != "" {
				bad("%s: avro tables take avro_schema or subject", where)
			}
		case "protobuf":
			if t.Schema != nil || t.AvroSchema != "" {
				bad("%s: protobuf tables take proto_schema or subject", where)
			}
		default:
			bad("%s: format %q: want json, avro or protobuf", where, t.Format)
		}
		if t.Schema != nil {
			seenName, seenID := map[string]bool{}, map[int]bool{}
			for j, f := range t.Schema.Fields {
				if !identRe.MatchString(f.Name) || strings.HasPrefix(f.Name, "_kafka_") {
					bad("%s: schema.fields[%d]: bad name %q (letters, digits, _; _kafka_ is reserved)", where, j, f.Name)
				}
				if seenName[f.Name] {
					bad("%s: schema.fields[%d]: duplicate name %q", where, j, f.Name)
				}
				seenName[f.Name] = true
				if _, ok := primitiveType(f.Type); !ok {
					bad("%s: schema.fields[%d] (%s): type %q: want one of %s", where, j, f.Name, f.Type, strings.Join(typeNames, ", "))
				}
				if f.ID < 0 || (f.ID > 0 && seenID[f.ID]) {
					bad("%s: schema.fields[%d] (%s): bad or duplicate id %d", where, j, f.Name, f.ID)
				}
				seenID[f.ID] = f.ID > 0
			}
		}
		for _, p := range t.PartitionBy {
			tr, col, err := parsePartition(p)
			if err != nil {
				bad("%s: partition_by %q: %v", where, p, err)
			}
			if t.Retention > 0 && t.RetentionColumn == "" && (tr == "year" || tr == "month" || tr == "day" || tr == "hour") {
				c.Tables[i].RetentionColumn, t.RetentionColumn = col, col
			}
		}
		if t.Retention > 0 && t.RetentionColumn == "" {
			bad("%s: retention needs retention_column (or a year/month/day/hour partition)", where)
		}
		if t.Retention < 0 {
			bad("%s: retention must be positive", where)
		}
	}
	if c.TargetFreshness < Duration(100*time.Millisecond) {
		bad("target_freshness %s is below 100ms", time.Duration(c.TargetFreshness))
	}
	if c.TargetFileSize < 1<<10 {
		bad("target_file_size %d is below 1KiB", c.TargetFileSize)
	}
	seenCat := map[string]bool{}
	for i, ec := range c.ExternalCatalogs {
		where := fmt.Sprintf("external_catalogs[%d] (%s)", i, ec.Name)
		if ec.Type != "sql" {
			bad("%s: type %q: want sql", where, ec.Type)
		}
		if !strings.HasPrefix(ec.URI, "sqlite://") && !strings.HasPrefix(ec.URI, "postgres://") && !strings.HasPrefix(ec.URI, "postgresql://") {
			bad("%s: uri %q: want sqlite:///path or postgres://", where, ec.URI)
		}
		if strings.TrimSpace(ec.Name) == "" || len(ec.Name) > 255 {
			bad("%s: name is required (the catalog_name, at most 255 bytes)", where)
		}
		if seenCat[ec.Name] {
			// Names label the catalogs' metrics and logs.
			bad("%s: duplicate name", where)
		}
		seenCat[ec.Name] = true
	}
	if c.Maintenance.KeepSnapshots < 1 {
		bad("maintenance.keep_snapshots must be at least 1")
	}
	return errors.Join(errs...)
}

var partitionRe = regexp.MustCompile(`^\s*(identity|year|month|day|hour|bucket|truncate)\s*\(\s*(?:([0-9]+)\s*,\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)

// parsePartition parses "day(ts)" or "bucket(16, id)" into the Iceberg
// transform string ("day", "bucket[16]") and the source column.
func parsePartition(s string) (transform, column string, err error) {
	m := partitionRe.FindStringSubmatch(s)
	if m == nil {
		return "", "", errors.New("want transform(column): identity, year, month, day, hour, bucket(n, column) or truncate(n, column)")
	}
	tr, n, col := m[1], m[2], m[3]
	switch tr {
	case "bucket", "truncate":
		if n == "" || n == "0" {
			return "", "", fmt.Errorf("%s needs a positive width: %s(n, column)", tr, tr)
		}
		return tr + "[" + n + "]", col, nil
	default:
		if n != "" {
			return "", "", fmt.Errorf("%s takes only a column", tr)
		}
		return tr, col, nil
	}
}
