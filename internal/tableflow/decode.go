package tableflow

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	gojson "github.com/goccy/go-json"
	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/sr"
)

// decoded is one Kafka record value turned into named values.
type decoded struct {
	values map[string]any
	// columns are the columns the writer's schema declares (avro), or nil
	// when the table's own schema is the contract (json, inline avro).
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
	case t.Format == "json":
		ids := map[string]int{}
		for _, f := range t.Schema.Fields {
			if f.ID > 0 {
				ids[f.Name] = f.ID
			}
		}
		return jsonDecoder{cols: inlineColumns(t.Schema), ids: ids}, nil
	case t.AvroSchema != "":
		s, err := avro.Parse(t.AvroSchema)
		if err != nil {
			return nil, fmt.Errorf("avro_schema: %w", err)
		}
		cols, err := avroColumns(s)
		if err != nil {
			return nil, fmt.Errorf("avro_schema: %w", err)
		}
		return &avroDecoder{inline: s, inlineCols: cols}, nil
	default:
		return &avroDecoder{registry: registry, subject: t.Subject, byID: map[int]registrySchema{}}, nil
	}
}

type jsonDecoder struct {
	cols []Column
	ids  map[string]int
}

func (d jsonDecoder) decode(_ context.Context, value []byte) (decoded, error) {
	// goccy/go-json (already linked by arrow-go) decodes maps about twice
	// as fast as encoding/json; numbers stay json.Number either way.
	dec := gojson.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return decoded{}, fmt.Errorf("%w: not a JSON object: %v", errIncompatible, err)
	}
	if m == nil {
		return decoded{}, fmt.Errorf("%w: not a JSON object", errIncompatible)
	}
	if dec.More() {
		return decoded{}, fmt.Errorf("%w: trailing data after the JSON object", errIncompatible)
	}
	return decoded{values: m}, nil
}

func (d jsonDecoder) initialColumns(context.Context) ([]Column, map[string]int, error) {
	return d.cols, d.ids, nil
}

type registrySchema struct {
	schema *avro.Schema
	cols   []Column
	err    error // the schema cannot become columns
}

// avroDecoder decodes raw Avro with an inline schema, or Confluent-framed
// Avro (magic byte 0, 4-byte schema ID) with schemas from a registry.
type avroDecoder struct {
	inline     *avro.Schema
	inlineCols []Column

	registry *sr.Client
	subject  string
	mu       sync.Mutex
	byID     map[int]registrySchema // guarded by mu
}

func (d *avroDecoder) schema(ctx context.Context, id int) (registrySchema, error) {
	d.mu.Lock()
	rs, ok := d.byID[id]
	d.mu.Unlock()
	if ok {
		return rs, nil
	}
	s, err := d.registry.SchemaByID(ctx, id)
	if err != nil {
		// A missing schema is the record's fault; other failures (the
		// registry is down) must not send records to the DLQ.
		if se := (*sr.ResponseError)(nil); errors.As(err, &se) && se.StatusCode == 404 {
			return registrySchema{err: fmt.Errorf("%w: schema %d not in the registry", errIncompatible, id)}, nil
		}
		return rs, fmt.Errorf("tableflow: registry: schema %d: %w", id, err)
	}
	if s.Type != sr.TypeAvro {
		rs.err = fmt.Errorf("%w: schema %d is %s, not avro", errIncompatible, id, s.Type)
	} else if rs.schema, rs.err = avro.Parse(s.Schema); rs.err != nil {
		rs.err = fmt.Errorf("%w: schema %d: %v", errIncompatible, id, rs.err)
	} else if rs.cols, rs.err = avroColumns(rs.schema); rs.err != nil {
		rs.err = fmt.Errorf("%w: schema %d: %v", errIncompatible, id, rs.err)
	}
	d.mu.Lock()
	d.byID[id] = rs
	d.mu.Unlock()
	return rs, nil
}

func (d *avroDecoder) decode(ctx context.Context, value []byte) (decoded, error) {
	if d.inline != nil {
		var m map[string]any
		if _, err := d.inline.Decode(value, &m); err != nil {
			return decoded{}, fmt.Errorf("%w: avro: %v", errIncompatible, err)
		}
		return decoded{values: m}, nil
	}
	if len(value) < 5 || value[0] != 0 {
		return decoded{}, fmt.Errorf("%w: no schema registry header", errIncompatible)
	}
	id := int(binary.BigEndian.Uint32(value[1:5]))
	rs, err := d.schema(ctx, id)
	if err != nil {
		return decoded{}, err
	}
	if rs.err != nil {
		return decoded{}, rs.err
	}
	var m map[string]any
	if _, err := rs.schema.Decode(value[5:], &m); err != nil {
		return decoded{}, fmt.Errorf("%w: avro (schema %d): %v", errIncompatible, id, err)
	}
	return decoded{values: m, columns: rs.cols, schemaID: id}, nil
}

func (d *avroDecoder) initialColumns(ctx context.Context) ([]Column, map[string]int, error) {
	if d.inline != nil {
		return d.inlineCols, nil, nil
	}
	ss, err := d.registry.SchemaByVersion(ctx, d.subject, -1)
	if err != nil {
		return nil, nil, fmt.Errorf("tableflow: registry: subject %s: %w", d.subject, err)
	}
	s, err := avro.Parse(ss.Schema.Schema)
	if err != nil {
		return nil, nil, fmt.Errorf("tableflow: subject %s: %w", d.subject, err)
	}
	cols, err := avroColumns(s)
	if err != nil {
		return nil, nil, fmt.Errorf("tableflow: subject %s: %w", d.subject, err)
	}
	return cols, nil, nil
}
