package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluicehq/sluice/internal/testutil"
)

// arrayCols is one value of each column type a commit sends, as Go slices
// (what pgx encodes) and as arrayCols (what the commit sends).
type arrayCols struct {
	uuids [][16]byte
	int2s []int16
	int4s []int32
	int8s []int64
	bools []bool
	texts []string
}

// arrayColsFrom derives columns of n elements each from data, cycling
// through it (a fuzzer's input, or random bytes); with anyBytes, texts
// hold any bytes, else printable ASCII and a few multi-byte runes (what
// the server accepts).
func arrayColsFrom(data []byte, n int, anyBytes bool) arrayCols {
	at := 0
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[at%len(data)]
		at++
		return b
	}
	var word [8]byte
	fill := func(k int) []byte {
		for i := range k {
			word[i] = next()
		}
		return word[:k]
	}
	c := arrayCols{uuids: [][16]byte{}, int2s: []int16{}, int4s: []int32{}, int8s: []int64{}, bools: []bool{}, texts: []string{}}
	for range n {
		var u [16]byte
		for i := range u {
			u[i] = next()
		}
		c.uuids = append(c.uuids, u)
		c.int2s = append(c.int2s, int16(binary.BigEndian.Uint16(fill(2))))
		c.int4s = append(c.int4s, int32(binary.BigEndian.Uint32(fill(4))))
		c.int8s = append(c.int8s, int64(binary.BigEndian.Uint64(fill(8))))
		c.bools = append(c.bools, next()&1 == 1)
		s := make([]byte, int(next())%40)
		for i := range s {
			s[i] = next()
			if !anyBytes {
				// Printable ASCII, and now and then a multi-byte rune.
				s[i] = ' ' + s[i]%95
			}
		}
		if !anyBytes && len(s) > 0 && s[0]%7 == 0 {
			s = append(s, "é€😀"...)
		}
		c.texts = append(c.texts, string(s))
	}
	return c
}

// encode returns the columns as arrayCols from arena a (nil: none).
func (c arrayCols) encode(a *colArena) []*arrayCol {
	u, i2, i4, i8, b, t := a.col(pgtype.UUIDArrayOID), a.col(pgtype.Int2ArrayOID), a.col(pgtype.Int4ArrayOID),
		a.col(pgtype.Int8ArrayOID), a.col(pgtype.BoolArrayOID), a.col(pgtype.TextArrayOID)
	for i := range c.uuids {
		u.appendUUID(c.uuids[i])
		i2.appendInt2(c.int2s[i])
		i4.appendInt4(c.int4s[i])
		i8.appendInt8(c.int8s[i])
		b.appendBool(c.bools[i])
		if i%2 == 0 {
			t.appendText(c.texts[i])
		} else {
			t.appendTextBytes([]byte(c.texts[i]))
		}
	}
	return []*arrayCol{u, i2, i4, i8, b, t}
}

func (c arrayCols) slices() []any {
	return []any{c.uuids, c.int2s, c.int4s, c.int8s, c.bools, c.texts}
}

// checkAgainstPgx checks each arrayCol of c: pgx's own decoder reads back
// the values, and a non-empty one is byte for byte pgx's own binary
// encoding (an empty one has no dimensions, as PostgreSQL's own).
func checkAgainstPgx(t testing.TB, c arrayCols) {
	t.Helper()
	m := pgtype.NewMap()
	cols := c.encode(nil)
	for i, want := range c.slices() {
		col := cols[i]
		col.seal()
		got, err := col.decode(m)
		if err != nil {
			t.Fatalf("column %d: pgx cannot decode %x: %v", i, col.b, err)
		}
		if reflect.ValueOf(got).Len() != 0 && !reflect.DeepEqual(got, want) || reflect.ValueOf(got).Len() != reflect.ValueOf(want).Len() {
			t.Fatalf("column %d: pgx decodes %v, want %v", i, got, want)
		}
		if len(c.uuids) == 0 {
			if !bytes.Equal(col.b, binary.BigEndian.AppendUint32(make([]byte, 8), col.elemOID)) {
				t.Fatalf("column %d: empty array encoded %x", i, col.b)
			}
			continue
		}
		theirs, err := m.Encode(col.arrayOID, pgtype.BinaryFormatCode, want, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(col.b, theirs) {
			t.Fatalf("column %d: encoded\n%x\npgx encodes\n%x", i, col.b, theirs)
		}
		// The text form (query modes without parameter types) is pgx's.
		text, err := col.TextValue()
		if err != nil {
			t.Fatal(err)
		}
		theirText, err := m.Encode(col.arrayOID, pgtype.TextFormatCode, want, nil)
		if err != nil {
			t.Fatal(err)
		}
		if text.String != string(theirText) {
			t.Fatalf("column %d: text %q, pgx %q", i, text.String, theirText)
		}
	}
}

// FuzzArrayCol checks the hand-written binary arrays against pgx's own
// encoder and decoder.
func FuzzArrayCol(f *testing.F) {
	f.Add([]byte{}, uint8(0))
	f.Add([]byte{1, 2, 3}, uint8(1))
	f.Add([]byte("\x00\xff\x80 sluice é"), uint8(17))
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		checkAgainstPgx(t, arrayColsFrom(data, int(n), true))
	})
}

// TestArrayColRoundTrip sends the same columns through the server encoded
// both ways, in the positions a commit's statements put them (first, so
// that arrayPlan hands pgx the arena's buffer; after pgx's own parameters;
// after a scalar), and compares what the server stored.
func TestArrayColRoundTrip(t *testing.T) {
	pg := testutil.StartPostgres(t)
	ctx := context.Background()
	url := pg.NewDatabase(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := registerArrayCodecs(conn.TypeMap()); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE rt (trial int, ours_first bool,
		u1 uuid[], s1 int2[], i1 int4[], l1 int8[], b1 bool[], t1 text[],
		u2 uuid[], s2 int2[], i2 int4[], l2 int8[], b2 bool[], t2 text[]);
		CREATE TABLE rows1 (trial int, u uuid, s int2, i int4, l int8, b bool, t text);
		CREATE TABLE rows2 (LIKE rows1)`); err != nil {
		t.Fatal(err)
	}
	const insert = `INSERT INTO rt(u1, s1, i1, l1, b1, t1, trial, ours_first, u2, s2, i2, l2, b2, t2)
		VALUES ($1::uuid[], $2::int2[], $3::int4[], $4::int8[], $5::bool[], $6::text[], $7, $8,
			$9::uuid[], $10::int2[], $11::int4[], $12::int8[], $13::bool[], $14::text[])`
	const unnest = `INSERT INTO %s SELECT $1::int, * FROM unnest($2::uuid[], $3::int2[], $4::int4[], $5::int8[], $6::bool[], $7::text[])`
	arena := &colArena{}
	var first arrayCols
	rng := rand.New(rand.NewPCG(1, 2))
	const trials = 40
	for trial := range trials {
		data := make([]byte, 64+rng.IntN(4096))
		for i := range data {
			data[i] = byte(rng.UintN(256))
		}
		n := 1 + rng.IntN(300)
		if trial%10 == 0 {
			n = 0
		}
		c := arrayColsFrom(data, n, false)
		if trial == 1 {
			first = c
		}
		checkAgainstPgx(t, c)
		// Each batch reuses the arena's buffers.
		arena.reset()
		batch := &pgx.Batch{}
		ours := c.encode(arena)
		args := append(append([]any{}, anySlice(ours)...), trial, true)
		queueArrays(batch, insert, append(args, c.slices()...)...)
		ours = c.encode(arena)
		args = append(append([]any{}, c.slices()...), trial, false)
		queueArrays(batch, insert, append(args, anySlice(ours)...)...)
		queueArrays(batch, fmt.Sprintf(unnest, "rows1"), append([]any{trial}, anySlice(c.encode(arena))...)...)
		queueArrays(batch, fmt.Sprintf(unnest, "rows2"), append([]any{trial}, c.slices()...)...)
		if err := conn.SendBatch(ctx, batch).Close(); err != nil {
			t.Fatalf("trial %d (%d elements): %v", trial, n, err)
		}
	}
	var rows, differ int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE u1 IS DISTINCT FROM u2 OR s1 IS DISTINCT FROM s2
		OR i1 IS DISTINCT FROM i2 OR l1 IS DISTINCT FROM l2 OR b1 IS DISTINCT FROM b2 OR t1 IS DISTINCT FROM t2) FROM rt`).Scan(&rows, &differ); err != nil {
		t.Fatal(err)
	}
	if rows != 2*trials || differ != 0 {
		t.Fatalf("%d rows, %d of them with arrays that differ; want %d, 0", rows, differ, 2*trials)
	}
	var n1, n2, only int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM rows1), (SELECT count(*) FROM rows2),
		(SELECT count(*) FROM ((TABLE rows1 EXCEPT ALL TABLE rows2) UNION ALL (TABLE rows2 EXCEPT ALL TABLE rows1)) d)`).Scan(&n1, &n2, &only); err != nil {
		t.Fatal(err)
	}
	if n1 == 0 || n1 != n2 || only != 0 {
		t.Fatalf("unnest rows: %d ours, %d pgx's, %d in only one; want equal counts and none", n1, n2, only)
	}
	// What the server stored is what was sent.
	var u [][16]byte
	var l []int64
	var ts []string
	if err := conn.QueryRow(ctx, `SELECT u1, l1, t1 FROM rt WHERE trial = 1 AND ours_first`).Scan(&u, &l, &ts); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(u, first.uuids) || !reflect.DeepEqual(l, first.int8s) || !reflect.DeepEqual(ts, first.texts) {
		t.Fatalf("trial 1 read back %v %v %q, sent %v %v %q", u, l, ts, first.uuids, first.int8s, first.texts)
	}
	// A URL may choose a query mode that sends parameters as text
	// (TextValue).
	for _, mode := range []string{"exec", "simple_protocol"} {
		cfg, err := pgx.ParseConfig(url + "&default_query_exec_mode=" + mode)
		if err != nil {
			t.Fatal(err)
		}
		tc, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close(ctx)
		if err := registerArrayCodecs(tc.TypeMap()); err != nil {
			t.Fatal(err)
		}
		cols := first.encode(nil)
		var same bool
		if err := tc.QueryRow(ctx, `SELECT $1::uuid[] = u1 AND $2::int2[] = s1 AND $3::int4[] = i1 AND $4::int8[] = l1
			AND $5::bool[] = b1 AND $6::text[] = t1 FROM rt WHERE trial = 1 AND ours_first`, anySlice(cols)...).Scan(&same); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if !same {
			t.Fatalf("%s: the arrays sent as text differ", mode)
		}
	}
}

func anySlice(cols []*arrayCol) []any {
	out := make([]any, len(cols))
	for i, c := range cols {
		out[i] = c
	}
	return out
}
