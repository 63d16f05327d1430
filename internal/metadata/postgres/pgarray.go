package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// A commit's statements take their rows as column arrays (unnest). pgx
// encodes a Go slice element by element through its generic array codec,
// boxing each element into an interface, and it drops its parameter
// buffer after every query that grew it past 256 bytes, so a
// 1,000-partition commit spent about half of its client CPU there and
// regrew about 1.4 MB of parameter bytes (docs/performance.md, "Client-side
// encoding"). An arrayCol is a column array written straight into
// PostgreSQL's binary array format, in a buffer that a connection reuses
// from commit to commit (colArena); the codec registered on every pooled
// connection (registerArrayCodecs) passes its bytes on as they are.

// Binary array format (array_recv): int32 number of dimensions, int32
// flags (1: has NULLs), uint32 element type OID, then per dimension int32
// length and int32 lower bound; then per element int32 length (-1: NULL)
// and the element's binary form.
const arrayHeaderLen = 20

// arrayCol is one one-dimensional array parameter without NULLs, built
// element by element (append*) and sealed when queued (queueArrays).
type arrayCol struct {
	arrayOID, elemOID uint32
	b                 []byte // the header (arrayHeaderLen bytes), then the elements
	n                 int32
	// arena is the connection's arena the column came from (nil: none);
	// stmtBytes, set on a statement's first parameter, is about how many
	// bytes all of that statement's parameters take.
	arena     *colArena
	stmtBytes int
}

// Element and array type OIDs of the columns a commit sends.
var arrayElemOID = map[uint32]uint32{
	pgtype.UUIDArrayOID: pgtype.UUIDOID,
	pgtype.Int2ArrayOID: pgtype.Int2OID,
	pgtype.Int4ArrayOID: pgtype.Int4OID,
	pgtype.Int8ArrayOID: pgtype.Int8OID,
	pgtype.BoolArrayOID: pgtype.BoolOID,
	pgtype.TextArrayOID: pgtype.TextOID,
}

func (c *arrayCol) reset(arrayOID uint32) {
	c.arrayOID, c.elemOID = arrayOID, arrayElemOID[arrayOID]
	c.b = append(c.b[:0], make([]byte, arrayHeaderLen)...)
	c.n, c.stmtBytes = 0, 0
}

func (c *arrayCol) appendUUID(v [16]byte) {
	c.b = binary.BigEndian.AppendUint32(c.b, 16)
	c.b = append(c.b, v[:]...)
	c.n++
}

func (c *arrayCol) appendInt2(v int16) {
	c.b = binary.BigEndian.AppendUint32(c.b, 2)
	c.b = binary.BigEndian.AppendUint16(c.b, uint16(v))
	c.n++
}

func (c *arrayCol) appendInt4(v int32) {
	c.b = binary.BigEndian.AppendUint32(c.b, 4)
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(v))
	c.n++
}

func (c *arrayCol) appendInt8(v int64) {
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, uint64(v))
	c.n++
}

func (c *arrayCol) appendBool(v bool) {
	c.b = binary.BigEndian.AppendUint32(c.b, 1)
	if v {
		c.b = append(c.b, 1)
	} else {
		c.b = append(c.b, 0)
	}
	c.n++
}

// appendText appends a text element: its bytes, which must be valid in the
// database's encoding (as any text parameter's).
func (c *arrayCol) appendText(s string) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(s)))
	c.b = append(c.b, s...)
	c.n++
}

// appendTextBytes is appendText of a text in a []byte.
func (c *arrayCol) appendTextBytes(s []byte) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(s)))
	c.b = append(c.b, s...)
	c.n++
}

// seal writes the header. An empty array has no dimensions, as
// PostgreSQL's own empty arrays (unnest gives no rows, as for NULL).
func (c *arrayCol) seal() {
	h := c.b[:arrayHeaderLen]
	binary.BigEndian.PutUint32(h[4:], 0)
	binary.BigEndian.PutUint32(h[8:], c.elemOID)
	if c.n == 0 {
		binary.BigEndian.PutUint32(h[0:], 0)
		c.b = c.b[:12]
		return
	}
	binary.BigEndian.PutUint32(h[0:], 1)
	binary.BigEndian.PutUint32(h[12:], uint32(c.n))
	binary.BigEndian.PutUint32(h[16:], 1)
}

// colArena is one pooled connection's reusable column buffers, handed out
// in order (col) and all taken back when the connection's next batch is
// built (reset). Only the goroutine holding the connection uses it, and
// pgx writes every query's parameters into its Bind message before it
// builds the next query's, so a buffer is free again once its batch was
// sent.
type colArena struct {
	cols []*arrayCol
	used int
	// params is the parameter buffer a statement whose first parameter is
	// an arrayCol of this arena hands pgx in place of its own (arrayPlan):
	// pgx drops its buffer after each query that grew it past 256 bytes,
	// so without it every large statement regrew one.
	params []byte
}

// col returns an empty column of array type arrayOID, from a's buffers
// when a is not nil.
func (a *colArena) col(arrayOID uint32) *arrayCol {
	if a == nil {
		c := &arrayCol{}
		c.reset(arrayOID)
		return c
	}
	if a.used == len(a.cols) {
		a.cols = append(a.cols, &arrayCol{arena: a})
	}
	c := a.cols[a.used]
	a.used++
	c.reset(arrayOID)
	return c
}

// reset takes back every column handed out; call it before building a
// batch, after the connection's previous batch was sent.
func (a *colArena) reset() {
	if a != nil {
		a.used = 0
	}
}

// connArenas holds each pooled connection's colArena, from AfterConnect
// to BeforeClose.
var connArenas sync.Map // *pgx.Conn → *colArena

// arenaFor returns conn's arena, nil for a connection that has none.
func arenaFor(conn *pgx.Conn) *colArena {
	if v, ok := connArenas.Load(conn); ok {
		return v.(*colArena)
	}
	return nil
}

// afterConnect prepares a pooled connection for arrayCol parameters.
func afterConnect(_ context.Context, conn *pgx.Conn) error {
	if err := registerArrayCodecs(conn.TypeMap()); err != nil {
		return err
	}
	connArenas.Store(conn, &colArena{})
	return nil
}

func beforeClose(conn *pgx.Conn) { connArenas.Delete(conn) }

// queueArrays queues sql with args, sealing the arrayCol arguments; when
// the first is one, it records how many bytes the statement's parameters
// take, for arrayPlan to size the buffer it hands pgx.
func queueArrays(batch *pgx.Batch, sql string, args ...any) *pgx.QueuedQuery {
	total := 0
	for _, a := range args {
		switch v := a.(type) {
		case *arrayCol:
			v.seal()
			total += len(v.b)
		case string:
			total += len(v)
		default:
			total += 16
		}
	}
	if len(args) > 0 {
		if c, ok := args[0].(*arrayCol); ok {
			c.stmtBytes = total + 4*len(args)
		}
	}
	return batch.Queue(sql, args...)
}

// registerArrayCodecs makes m encode *arrayCol parameters of the array
// types the commit uses: every other value of those types is left to
// pgx's own codec.
func registerArrayCodecs(m *pgtype.Map) error {
	for arrayOID := range arrayElemOID {
		t, ok := m.TypeForOID(arrayOID)
		if !ok {
			return fmt.Errorf("postgres: pgx has no type for OID %d", arrayOID)
		}
		if _, done := t.Codec.(arrayColCodec); done {
			continue
		}
		m.RegisterType(&pgtype.Type{Name: t.Name, OID: t.OID, Codec: arrayColCodec{Codec: t.Codec}})
	}
	return nil
}

// arrayColCodec is pgx's codec of an array type, which also encodes an
// *arrayCol.
type arrayColCodec struct{ pgtype.Codec }

func (c arrayColCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := value.(*arrayCol); ok && format == pgtype.BinaryFormatCode {
		return arrayPlan{oid: oid}
	}
	return c.Codec.PlanEncode(m, oid, format, value)
}

// arrayPlan encodes an *arrayCol in the binary format: its bytes.
type arrayPlan struct{ oid uint32 }

func (p arrayPlan) Encode(value any, buf []byte) ([]byte, error) {
	c := value.(*arrayCol)
	if c.arrayOID != p.oid {
		return nil, fmt.Errorf("postgres: an array of type %d passed as type %d", c.arrayOID, p.oid)
	}
	if len(buf) == 0 && c.arena != nil && c.stmtBytes > 0 {
		// The statement's first parameter: hand pgx the arena's
		// parameter buffer, large enough for all of them (the append
		// contract lets Encode return another array; pgx keeps what it
		// returns as its buffer for the statement's later parameters and
		// copies them all into the Bind message before the next query).
		a := c.arena
		if cap(a.params) < c.stmtBytes {
			a.params = make([]byte, 0, max(c.stmtBytes+c.stmtBytes/4, 4096))
		}
		return append(a.params[:0], c.b...), nil
	}
	return append(buf, c.b...), nil
}

// TextValue implements pgtype.TextValuer, which pgx asks first for a
// parameter sent as text (the exec and simple_protocol query modes, which
// a URL may choose; the default sends arrays in the binary format): c's
// elements decoded by pgx from the binary form, then encoded as text by
// pgx.
func (c *arrayCol) TextValue() (pgtype.Text, error) {
	m := pgtype.NewMap()
	v, err := c.decode(m)
	if err != nil {
		return pgtype.Text{}, err
	}
	b, err := m.Encode(c.arrayOID, pgtype.TextFormatCode, v, nil)
	if err != nil {
		return pgtype.Text{}, err
	}
	return pgtype.Text{String: string(b), Valid: true}, nil
}

// decode returns c's elements as the Go slice pgx would encode for it,
// decoded by m from c's binary form.
func (c *arrayCol) decode(m *pgtype.Map) (any, error) {
	c.seal()
	switch c.elemOID {
	case pgtype.UUIDOID:
		return scanArray[[16]byte](m, c)
	case pgtype.Int2OID:
		return scanArray[int16](m, c)
	case pgtype.Int4OID:
		return scanArray[int32](m, c)
	case pgtype.Int8OID:
		return scanArray[int64](m, c)
	case pgtype.BoolOID:
		return scanArray[bool](m, c)
	case pgtype.TextOID:
		return scanArray[string](m, c)
	}
	return nil, errors.New("postgres: array of an unknown element type")
}

func scanArray[T any](m *pgtype.Map, c *arrayCol) (any, error) {
	v := []T{}
	if err := m.Scan(c.arrayOID, pgtype.BinaryFormatCode, c.b, &v); err != nil {
		return nil, err
	}
	return v, nil
}
