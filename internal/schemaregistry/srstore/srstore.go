// Package srstore is the schema registry's role in the metadata store: the
// rows the registry keeps (schemas by global ID, subject versions, config
// and mode settings) and the transactions it reads and writes them in.
//
// The rules (ID assignment, version numbering, soft and permanent deletes,
// modes) live in package schemaregistry and are shared by every backend;
// a backend only stores and finds rows. The SQLite and PostgreSQL metadata
// backends implement Store (internal/metadata/sqlite/schemaregistry.go,
// internal/metadata/postgres/schemaregistry.go).
package srstore

import (
	"context"
	"errors"
)

// ErrConflict is returned by a Tx write that collides with a row another
// transaction committed (a unique constraint). Store.SchemaRegistryUpdate
// retries its function when the function returns it.
var ErrConflict = errors.New("srstore: conflicting write")

// Schema is one registered schema. Rows are never deleted, so an ID is
// never given to another schema.
type Schema struct {
	ID   int64
	Type string // AVRO, PROTOBUF or JSON
	// Text is the schema as served by GET /schemas/ids/{id}.
	Text string
	// Refs are the schema's references, in the order they were given.
	Refs []Reference
	// Fingerprint identifies the schema across subjects and agents: a hash
	// of the type, the canonical text and the references. Two rows share
	// one only when IMPORT mode registered the same schema under two IDs.
	Fingerprint string
}

// Reference names a schema version another schema imports.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// Version is one version of a subject.
type Version struct {
	Subject  string
	Version  int
	SchemaID int64
	Deleted  bool // soft-deleted
}

// Setting kinds.
const (
	KindConfig = "config"
	KindMode   = "mode"
)

// Store runs schema registry transactions.
type Store interface {
	// SchemaRegistryUpdate runs fn in a write transaction serialised with
	// every other SchemaRegistryUpdate of every agent sharing the store,
	// and commits it unless fn fails. When fn or the commit fails with
	// ErrConflict, or the database aborts the transaction as a
	// serialization failure, fn runs again in a new transaction (a few
	// times), so fn must have no effects outside tx.
	SchemaRegistryUpdate(ctx context.Context, fn func(Tx) error) error
	// SchemaRegistryView runs fn in a read-only transaction that sees one
	// consistent snapshot.
	SchemaRegistryView(ctx context.Context, fn func(Tx) error) error
}

// Tx reads and writes registry rows inside one transaction. Lists are
// ordered: versions by (subject, version), IDs ascending.
type Tx interface {
	// SchemaByID returns the schema with the ID; ok is false if none.
	SchemaByID(ctx context.Context, id int64) (s Schema, ok bool, err error)
	// SchemasByFingerprint returns the schemas with the fingerprint, lowest
	// ID first.
	SchemasByFingerprint(ctx context.Context, fp string) ([]Schema, error)
	// MaxSchemaID returns the highest ID ever assigned, 0 if none.
	MaxSchemaID(ctx context.Context) (int64, error)
	// InsertSchema stores a new schema and its references; ErrConflict if
	// the ID is taken.
	InsertSchema(ctx context.Context, s Schema) error
	// Schemas returns every schema (for GET /schemas).
	Schemas(ctx context.Context) ([]Schema, error)

	// Versions returns the versions of subject, deleted ones included; an
	// empty subject returns every subject's versions.
	Versions(ctx context.Context, subject string) ([]Version, error)
	// VersionsOfSchema returns the versions that use the schema ID.
	VersionsOfSchema(ctx context.Context, id int64) ([]Version, error)
	// ReferencingSchemas returns the IDs of schemas that reference subject
	// version.
	ReferencingSchemas(ctx context.Context, subject string, version int) ([]int64, error)
	// PutVersion inserts the version, or updates its schema ID and deleted
	// flag if it exists.
	PutVersion(ctx context.Context, v Version) error
	// DeleteVersion removes the version row (permanent delete).
	DeleteVersion(ctx context.Context, subject string, version int) error

	// Setting returns a config or mode value for subject ("" is global).
	Setting(ctx context.Context, kind, subject string) (value string, ok bool, err error)
	// PutSetting sets a config or mode value.
	PutSetting(ctx context.Context, kind, subject, value string) error
	// DeleteSetting removes a value; it reports whether there was one.
	DeleteSetting(ctx context.Context, kind, subject string) (bool, error)
}
