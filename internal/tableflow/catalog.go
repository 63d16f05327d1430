package tableflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/io/gocloud/blobfs"
	"github.com/apache/iceberg-go/table"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/memblob" // mem:// for tests
	_ "gocloud.dev/blob/s3blob"  // s3://
)

// offsetsProperty is the snapshot summary key holding the Kafka offsets a
// snapshot includes: {"partition": next offset, ...}.
const offsetsProperty = "sluice.kafka.offsets"

// Warehouse is the destination bucket: where tables live and how Iceberg
// reads and writes them.
type Warehouse struct {
	// Root is the URI prefix of every table location: file:///dir or
	// scheme://bucket.
	Root string
	// Bucket lists and deletes objects (orphan cleanup); keys are relative
	// to Root.
	Bucket *blob.Bucket
	fs     icebergio.IO
}

// OpenWarehouse opens a destination bucket URL.
func OpenWarehouse(ctx context.Context, rawURL string) (*Warehouse, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("tableflow: bad bucket URL %q: %w", rawURL, err)
	}
	w := &Warehouse{}
	if u.Scheme == "file" {
		dir, err := filepath.Abs(u.Path)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		w.Bucket, err = fileblob.OpenBucket(dir, &fileblob.Options{Metadata: fileblob.MetadataDontWrite})
		if err != nil {
			return nil, err
		}
		// Local files go through Iceberg's own local IO, so external
		// readers given file:// locations see the same paths.
		w.Root, w.fs = "file://"+dir, icebergio.LocalFS{}
		return w, nil
	}
	w.Bucket, err = blob.OpenBucket(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("tableflow: open bucket %q: %w", rawURL, err)
	}
	w.Root = u.Scheme + "://" + u.Host
	root, scheme, host := w.Root, u.Scheme, u.Host
	w.fs = blobfs.New(ctx, w.Bucket, func(loc string) (blobfs.ObjectLocation, error) {
		key, ok := strings.CutPrefix(loc, root+"/")
		if !ok || key == "" {
			return blobfs.ObjectLocation{}, fmt.Errorf("tableflow: %s is outside %s", loc, root)
		}
		return blobfs.NewObjectLocation(scheme, host, key), nil
	})
	return w, nil
}

// Key returns a location's object key in Bucket.
func (w *Warehouse) Key(loc string) (string, bool) {
	return strings.CutPrefix(loc, w.Root+"/")
}

// TableLocation is where a table's files live.
func (w *Warehouse) TableLocation(ident table.Identifier) string {
	return w.Root + "/" + strings.Join(ident, "/")
}

func (w *Warehouse) fsF(context.Context) (icebergio.IO, error) { return w.fs, nil }

// Close releases the bucket.
func (w *Warehouse) Close() error { return w.Bucket.Close() }

// Catalog is an Iceberg catalog over the store: a commit writes the new
// metadata file, then moves the store's pointer (and the Kafka offsets the
// new snapshot includes) in one conditional statement. Only the metadata
// operations tableflow needs are implemented; the rest return
// errors.ErrUnsupported.
type Catalog struct {
	store Store
	wh    *Warehouse
	// owner is the lease holder name commits are made as.
	owner string
	// committed, if set, is told the name of every table whose metadata
	// location moved (set before the catalog is used).
	committed func(name string)
}

// NewCatalog returns a catalog committing as owner.
func NewCatalog(store Store, wh *Warehouse, owner string) *Catalog {
	return &Catalog{store: store, wh: wh, owner: owner}
}

var _ catalog.Catalog = (*Catalog)(nil)

// Ident splits "ns.table".
func Ident(name string) table.Identifier { return strings.Split(name, ".") }

func identName(ident table.Identifier) string { return strings.Join(ident, ".") }

func (c *Catalog) CatalogType() catalog.Type { return catalog.Type("sluice") }

// Create creates a table from a schema and spec, unless it exists.
func (c *Catalog) Create(ctx context.Context, ident table.Identifier, sc *iceberg.Schema, spec iceberg.PartitionSpec, props iceberg.Properties) (*table.Table, error) {
	loc := c.wh.TableLocation(ident)
	meta, err := table.NewMetadata(sc, &spec, table.UnsortedSortOrder, loc, props)
	if err != nil {
		return nil, err
	}
	metaLoc, err := c.writeMetadata(meta, 0)
	if err != nil {
		return nil, err
	}
	if err := c.store.Commit(ctx, Commit{Name: identName(ident), Owner: c.owner, Next: metaLoc}); err != nil {
		return nil, err
	}
	c.notify(identName(ident))
	return table.New(ident, meta, metaLoc, c.wh.fsF, c), nil
}

func (c *Catalog) writeMetadata(meta table.Metadata, version int) (string, error) {
	provider, err := table.LoadLocationProvider(meta.Location(), meta.Properties())
	if err != nil {
		return "", err
	}
	loc, err := provider.NewTableMetadataFileLocation(version)
	if err != nil {
		return "", err
	}
	data, err := json.Marshal(meta)
	if err != nil {
		return "", err
	}
	wfs, ok := c.wh.fs.(icebergio.WriteFileIO)
	if !ok {
		return "", errors.New("tableflow: warehouse IO cannot write")
	}
	if err := wfs.WriteFile(loc, data); err != nil {
		return "", fmt.Errorf("tableflow: write metadata: %w", err)
	}
	return loc, nil
}

func (c *Catalog) CreateTable(ctx context.Context, ident table.Identifier, sc *iceberg.Schema, opts ...catalog.CreateTableOpt) (*table.Table, error) {
	return nil, fmt.Errorf("%w: tables are created from tableflow.yaml", errors.ErrUnsupported)
}

// metadataVersion reads the version number of ".../metadata/00012-uuid.metadata.json".
func metadataVersion(loc string) int {
	base := filepath.Base(loc)
	var v int
	if _, err := fmt.Sscanf(base, "%05d-", &v); err != nil {
		return 0
	}
	return v
}

// CommitTable stages the updates on the current metadata, writes the new
// metadata file and moves the store's pointer to it, with the offsets of
// the new snapshot. A moved pointer (ErrConflict) or a lost lease
// (ErrLeaseLost) fails the commit; the new files become orphans.
func (c *Catalog) CommitTable(ctx context.Context, ident table.Identifier, reqs []table.Requirement, updates []table.Update) (table.Metadata, string, error) {
	current, err := c.LoadTable(ctx, ident)
	if err != nil {
		return nil, "", err
	}
	for _, r := range reqs {
		if err := r.Validate(current.Metadata()); err != nil {
			return nil, "", err
		}
	}
	updated, err := table.UpdateTableMetadata(current.Metadata(), updates, current.MetadataLocation())
	if err != nil {
		return nil, "", err
	}
	loc, err := c.writeMetadata(updated, metadataVersion(current.MetadataLocation())+1)
	if err != nil {
		return nil, "", err
	}
	// The offsets move only with a new current snapshot (an append or a
	// compaction); expiry and schema changes keep the store's.
	var offsets map[int32]int64
	if s, prev := updated.CurrentSnapshot(), current.CurrentSnapshot(); s != nil && s.Summary != nil && (prev == nil || prev.SnapshotID != s.SnapshotID) {
		if raw, ok := s.Summary.Properties[offsetsProperty]; ok {
			if offsets, err = decodeOffsets(raw); err != nil {
				return nil, "", fmt.Errorf("tableflow: bad %s in snapshot summary: %w", offsetsProperty, err)
			}
		}
	}
	// A conflict is not reported as table.ErrCommitFailed: iceberg-go would
	// replay the updates on the newer metadata, but an append's offsets are
	// only right on the state they were consumed from. The worker restarts
	// from the store instead.
	err = c.store.Commit(ctx, Commit{Name: identName(ident), Owner: c.owner, Prev: current.MetadataLocation(), Next: loc, Offsets: offsets})
	if err != nil {
		return nil, "", err
	}
	c.notify(identName(ident))
	return updated, loc, nil
}

func (c *Catalog) notify(name string) {
	if c.committed != nil {
		c.committed(name)
	}
}

func (c *Catalog) ListTables(ctx context.Context, namespace table.Identifier) iter.Seq2[table.Identifier, error] {
	return func(yield func(table.Identifier, error) bool) {
		states, err := c.store.List(ctx)
		if err != nil {
			yield(nil, err)
			return
		}
		prefix := identName(namespace) + "."
		for _, st := range states {
			if len(namespace) > 0 && !strings.HasPrefix(st.Name, prefix) {
				continue
			}
			if !yield(Ident(st.Name), nil) {
				return
			}
		}
	}
}

func (c *Catalog) LoadTable(ctx context.Context, ident table.Identifier) (*table.Table, error) {
	st, err := c.store.Load(ctx, identName(ident))
	if errors.Is(err, ErrNoTable) {
		return nil, fmt.Errorf("%w: %s", catalog.ErrNoSuchTable, identName(ident))
	}
	if err != nil {
		return nil, err
	}
	return table.NewFromLocation(ctx, ident, st.MetadataLocation, c.wh.fsF, c)
}

func (c *Catalog) DropTable(context.Context, table.Identifier) error { return errors.ErrUnsupported }

func (c *Catalog) RenameTable(context.Context, table.Identifier, table.Identifier) (*table.Table, error) {
	return nil, errors.ErrUnsupported
}

func (c *Catalog) CheckTableExists(ctx context.Context, ident table.Identifier) (bool, error) {
	_, err := c.store.Load(ctx, identName(ident))
	if errors.Is(err, ErrNoTable) {
		return false, nil
	}
	return err == nil, err
}

// ListNamespaces lists the first identifier parts of the tables.
func (c *Catalog) ListNamespaces(ctx context.Context, parent table.Identifier) ([]table.Identifier, error) {
	if len(parent) > 0 {
		return nil, nil
	}
	states, err := c.store.List(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []table.Identifier
	for _, st := range states {
		ns := Ident(st.Name)[0]
		if !seen[ns] {
			seen[ns] = true
			out = append(out, table.Identifier{ns})
		}
	}
	return out, nil
}

func (c *Catalog) CreateNamespace(context.Context, table.Identifier, iceberg.Properties) error {
	return errors.ErrUnsupported
}

func (c *Catalog) DropNamespace(context.Context, table.Identifier) error {
	return errors.ErrUnsupported
}

func (c *Catalog) CheckNamespaceExists(ctx context.Context, ns table.Identifier) (bool, error) {
	all, err := c.ListNamespaces(ctx, nil)
	if err != nil {
		return false, err
	}
	for _, n := range all {
		if identName(n) == identName(ns) {
			return true, nil
		}
	}
	return false, nil
}

func (c *Catalog) LoadNamespaceProperties(ctx context.Context, ns table.Identifier) (iceberg.Properties, error) {
	ok, err := c.CheckNamespaceExists(ctx, ns)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", catalog.ErrNoSuchNamespace, identName(ns))
	}
	return iceberg.Properties{}, nil
}

func (c *Catalog) UpdateNamespaceProperties(context.Context, table.Identifier, []string, iceberg.Properties) (catalog.PropertiesUpdateSummary, error) {
	return catalog.PropertiesUpdateSummary{}, errors.ErrUnsupported
}
