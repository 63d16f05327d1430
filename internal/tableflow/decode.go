package tableflow

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/sluicehq/sluice/internal/schemaregistry/schema"
)

// decoded is one Kafka record value turned into named values.
type decoded struct {
	values map[string]any
	// columns are the columns the writer's schema declares (registry
	// schemas), or nil when the table's own schema is the contract (json
	// with an inline schema, inline avro and protobuf).
	columns []Column
	// schemaID is the registry schema the record was written with, 0 if none.
	schemaID int
}

// decoder turns record values into named values. Safe for concurrent use.
type decoder interface {
	decode(ctx context.Context, value []byte) (decoded, error)
	// initialColumns are the columns a new table starts with.
	initialColumns(ctx context.Context) ([]Column, map[string]int, error)
}

func newDecoder(t TableConfig, registry *sr.Client) (decoder, error) {
	switch {
	case t.Subject != "":
		return &registryDecoder{registry: registry, subject: t.Subject, format: t.Format, message: t.Message, byID: map[int]*compiled{}}, nil
	case t.Format == "json":
		ids := map[string]int{}
		for _, f := range t.Schema.Fields {
			if f.ID > 0 {
				ids[f.Name] = f.ID
			}
		}
		return jsonDecoder{cols: inlineColumns(t.Schema), ids: ids}, nil
	case t.Format == "protobuf":
		f, err := protoFile(t.ProtoSchema, nil)
		if err != nil {
			return nil, fmt.Errorf("proto_schema: %w", err)
		}
		md, err := protoMessageByName(f, t.Message)
		if err != nil {
			return nil, fmt.Errorf("proto_schema: %w", err)
		}
		cols, err := protoColumns(md)
		if err != nil {
			return nil, fmt.Errorf("proto_schema: %w", err)
		}
		return &protoDecoder{md: md, cols: cols}, nil
	default:
		s, err := avro.Parse(t.AvroSchema)
		if err != nil {
			return nil, fmt.Errorf("avro_schema: %w", err)
		}
		c, err := newAvroCodec(s)
		if err != nil {
			return nil, fmt.Errorf("avro_schema: %w", err)
		}
		return &avroDecoder{c}, nil
	}
}

// jsonSource is implemented by the decoders of JSON records, for the
// direct path (batch.addJSON): jsonPayload returns a record value's JSON
// object undecoded, with the writer schema's columns and ID as decode
// would return them (nil and 0 for an inline schema). ok is false when
// the value is not one the direct path can take (no JSON payload, an
// unknown or unusable schema): decode then says why. err is only a
// failure that is not the record's (the registry is down).
type jsonSource interface {
	jsonPayload(ctx context.Context, value []byte) (payload []byte, cols []Column, schemaID int, ok bool, err error)
}

// decodeJSON decodes one JSON object.
func decodeJSON(value []byte) (m map[string]any, err error) {
	// goccy/go-json's stream decoder (v0.10.6) can panic on malformed
	// input (FuzzJSONDirect found an index out of range in its readBuf):
	// such a value is a bad record, not a reason to stop the agent.
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("%w: not a JSON object: decoder failed: %v", errIncompatible, r)
		}
	}()
	// goccy/go-json (already linked by arrow-go) decodes maps about twice
	// as fast as encoding/json; numbers stay json.Number either way.
	dec := gojson.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object: %v", errIncompatible, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%w: not a JSON object", errIncompatible)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", errIncompatible)
	}
	return m, nil
}

// jsonDecoder decodes plain JSON objects against an inline schema.
type jsonDecoder struct {
	cols []Column
	ids  map[string]int
}

func (d jsonDecoder) decode(_ context.Context, value []byte) (decoded, error) {
	m, err := decodeJSON(value)
	return decoded{values: m}, err
}

func (d jsonDecoder) jsonPayload(_ context.Context, value []byte) ([]byte, []Column, int, bool, error) {
	return value, nil, 0, true, nil
}

func (d jsonDecoder) initialColumns(context.Context) ([]Column, map[string]int, error) {
	return d.cols, d.ids, nil
}

// avroDecoder decodes raw Avro (no header) with an inline schema.
type avroDecoder struct{ c *avroCodec }

func (d *avroDecoder) decode(_ context.Context, value []byte) (decoded, error) {
	m, err := d.c.decode(value)
	return decoded{values: m}, err
}

func (d *avroDecoder) initialColumns(context.Context) ([]Column, map[string]int, error) {
	return d.c.cols, nil, nil
}

// protoDecoder decodes raw Protobuf messages (no header) of one message
// type of an inline schema.
type protoDecoder struct {
	md   protoreflect.MessageDescriptor
	cols []Column
}

func (d *protoDecoder) decode(_ context.Context, value []byte) (decoded, error) {
	m, err := protoUnmarshal(d.md, value)
	return decoded{values: m}, err
}

func (d *protoDecoder) initialColumns(context.Context) ([]Column, map[string]int, error) {
	return d.cols, nil, nil
}

// compiled is a registry schema ready to decode payloads (what follows
// the 5-byte Confluent header), or the reason records written with it are
// incompatible.
type compiled struct {
	decode func(payload []byte) (map[string]any, []Column, error)
	// cols are the schema's columns (for protobuf, those of the first
	// message; records name theirs in their message-index list).
	cols []Column
	err  error
	// retryAt, when set, is when an err that may pass (a missing
	// reference) stops being cached.
	retryAt time.Time
}

// registryDecoder decodes Confluent-framed records (magic byte 0, 4-byte
// big-endian schema ID, for protobuf a message-index list, then the
// encoded value) whose schemas come from a registry.
type registryDecoder struct {
	registry *sr.Client
	subject  string
	format   string // avro, protobuf or json
	message  string // protobuf: the message new tables take their columns from

	mu   sync.Mutex
	byID map[int]*compiled // guarded by mu
}

// compile builds the decoder of one registry schema. An error is a
// registry failure; a schema the table cannot use is compiled.err.
func (d *registryDecoder) compile(ctx context.Context, s sr.Schema, forRecords bool) (*compiled, error) {
	bad := func(err error) (*compiled, error) {
		return &compiled{err: fmt.Errorf("%w: %v", errIncompatible, err)}, nil
	}
	// A reference the registry does not have makes the schema unusable
	// for now: its records go to the DLQ, and the references are looked
	// up again after missingRefRetry. Other failures are the registry's.
	missing := func(err error) (*compiled, error) {
		if errors.Is(err, errIncompatible) {
			return &compiled{err: err, retryAt: time.Now().Add(missingRefRetry)}, nil
		}
		return nil, err
	}
	want := map[string]sr.SchemaType{"avro": sr.TypeAvro, "protobuf": sr.TypeProtobuf, "json": sr.TypeJSON}[d.format]
	if s.Type != want {
		return bad(fmt.Errorf("the schema is %s, the table is %s", s.Type, d.format))
	}
	switch d.format {
	case "avro":
		as, err := avro.Parse(s.Schema)
		if err != nil {
			return bad(err)
		}
		ac, err := newAvroCodec(as)
		if err != nil {
			return bad(err)
		}
		return &compiled{cols: ac.cols, decode: func(p []byte) (map[string]any, []Column, error) {
			m, err := ac.decode(p)
			return m, ac.cols, err
		}}, nil
	case "json":
		deps, err := d.references(ctx, s.References, schema.JSON)
		if err != nil {
			return missing(err)
		}
		cols, err := jsonSchemaColumns(s.Schema, deps)
		if err != nil {
			return bad(err)
		}
		return &compiled{cols: cols, decode: func(p []byte) (map[string]any, []Column, error) {
			m, err := decodeJSON(p)
			return m, cols, err
		}}, nil
	default:
		deps, err := d.references(ctx, s.References, schema.Protobuf)
		if err != nil {
			return missing(err)
		}
		f, err := protoFile(s.Schema, deps)
		if err != nil {
			return bad(err)
		}
		ps := &protoSchema{file: f}
		c := &compiled{decode: ps.decodeFramed}
		if !forRecords {
			md, err := protoMessageByName(f, d.message)
			if err != nil {
				return bad(err)
			}
			if c.cols, err = ps.columns(md); err != nil {
				return bad(err)
			}
		}
		return c, nil
	}
}

// missingRefRetry is how long a schema with a reference the registry does
// not have is taken as incompatible before its references are looked up
// again. A variable for tests.
var missingRefRetry = time.Minute

// notFound reports whether the registry answered 404 (no such subject,
// version or schema), as opposed to failing.
func notFound(err error) bool {
	var se *sr.ResponseError
	return errors.As(err, &se) && se.StatusCode == http.StatusNotFound
}

// references fetches a schema's references and theirs, as reference name
// → text. A reference the registry answers 404 for is errIncompatible (the
// records go to the DLQ); any other failure is the registry's (the table
// stops and retries, never sending records to the DLQ for an outage).
func (d *registryDecoder) references(ctx context.Context, refs []sr.SchemaReference, typ schema.Type) ([]schema.Dep, error) {
	var deps []schema.Dep
	seen := map[string]bool{}
	for len(refs) > 0 {
		r := refs[0]
		refs = refs[1:]
		if seen[r.Name] {
			continue
		}
		seen[r.Name] = true
		if len(seen) > schema.MaxDeps {
			return nil, fmt.Errorf("tableflow: registry: more than %d references", schema.MaxDeps)
		}
		ss, err := d.registry.SchemaByVersion(ctx, r.Subject, r.Version)
		if notFound(err) {
			return nil, fmt.Errorf("%w: reference %s (subject %s version %d) is not in the registry: %v", errIncompatible, r.Name, r.Subject, r.Version, err)
		}
		if err != nil {
			return nil, fmt.Errorf("tableflow: registry: reference %s (%s v%d): %w", r.Name, r.Subject, r.Version, err)
		}
		deps = append(deps, schema.Dep{Name: r.Name, Type: typ, Text: ss.Schema.Schema})
		refs = append(refs, ss.References...)
	}
	return deps, nil
}

func (d *registryDecoder) schema(ctx context.Context, id int) (*compiled, error) {
	d.mu.Lock()
	c, ok := d.byID[id]
	d.mu.Unlock()
	if ok && (c.retryAt.IsZero() || time.Now().Before(c.retryAt)) {
		return c, nil
	}
	s, err := d.registry.SchemaByID(ctx, id)
	if err != nil {
		// A missing schema is the record's fault; other failures (the
		// registry is down) must not send records to the DLQ.
		if notFound(err) {
			c = &compiled{err: fmt.Errorf("%w: schema %d not in the registry", errIncompatible, id)}
		} else {
			return nil, fmt.Errorf("tableflow: registry: schema %d: %w", id, err)
		}
	} else if c, err = d.compile(ctx, s, true); err != nil {
		return nil, err
	}
	if c.err != nil {
		c.err = fmt.Errorf("schema %d: %w", id, c.err)
	}
	d.mu.Lock()
	d.byID[id] = c
	d.mu.Unlock()
	return c, nil
}

func (d *registryDecoder) decode(ctx context.Context, value []byte) (decoded, error) {
	if len(value) < 5 || value[0] != 0 {
		return decoded{}, fmt.Errorf("%w: no schema registry header", errIncompatible)
	}
	id := int(binary.BigEndian.Uint32(value[1:5]))
	c, err := d.schema(ctx, id)
	if err != nil {
		return decoded{}, err
	}
	if c.err != nil {
		return decoded{}, c.err
	}
	m, cols, err := c.decode(value[5:])
	if err != nil {
		return decoded{}, fmt.Errorf("schema %d: %w", id, err)
	}
	return decoded{values: m, columns: cols, schemaID: id}, nil
}

func (d *registryDecoder) jsonPayload(ctx context.Context, value []byte) ([]byte, []Column, int, bool, error) {
	if d.format != "json" || len(value) < 5 || value[0] != 0 {
		return nil, nil, 0, false, nil
	}
	id := int(binary.BigEndian.Uint32(value[1:5]))
	c, err := d.schema(ctx, id)
	if err != nil || c.err != nil {
		return nil, nil, 0, false, err
	}
	return value[5:], c.cols, id, true, nil
}

func (d *registryDecoder) initialColumns(ctx context.Context) ([]Column, map[string]int, error) {
	ss, err := d.registry.SchemaByVersion(ctx, d.subject, -1)
	if err != nil {
		return nil, nil, fmt.Errorf("tableflow: registry: subject %s: %w", d.subject, err)
	}
	c, err := d.compile(ctx, ss.Schema, false)
	if err != nil {
		return nil, nil, err
	}
	if c.err != nil {
		return nil, nil, fmt.Errorf("tableflow: subject %s: %w", d.subject, c.err)
	}
	return c.cols, nil, nil
}
