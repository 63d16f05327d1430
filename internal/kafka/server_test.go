package kafka

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/fetch"
	"github.com/sluicehq/sluice/internal/groups"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/topics"
)

// testServer is an in-process Server over a SQLite store and a directory
// bucket, both in t.TempDir().
type testServer struct {
	t         testing.TB
	srv       *Server
	addr      string
	store     *sqlite.Store
	bucketDir string
	topics    *topics.Cache
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startServer starts a Server on 127.0.0.1:0 and stops it (and closes its
// backends) when the test ends.
func startServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	return startServerWith(t, cfg, nil)
}

// startServerWith is startServer with the bucket wrapped by wrap (nil: as
// is), for tests that control when uploads finish.
func startServerWith(t testing.TB, cfg Config, wrap func(objstore.Bucket) objstore.Bucket) *testServer {
	t.Helper()
	return startServerDeps(t, cfg, wrap, nil)
}

// startServerDeps is startServerWith with the server's collaborators
// changed by edit (nil: as built), for tests that replace one of them.
func startServerDeps(t testing.TB, cfg Config, wrap func(objstore.Bucket) objstore.Bucket, edit func(*Deps)) *testServer {
	t.Helper()
	dir := t.TempDir()
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	bucketDir := filepath.Join(dir, "bucket")
	bucket, err := objstore.OpenDir(bucketDir)
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		bucket = wrap(bucket)
	}
	notifier := fetch.NewNotifier()
	batcher := produce.New(produce.Config{BatchTimeout: 5 * time.Millisecond}, store, bucket, notifier.Notify, nil, discardLogger())
	reader := fetch.NewReader(store, bucket, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	cache := topics.NewCache(store, time.Second)
	members := cluster.Single{Broker: cluster.Broker{NodeID: 1, Host: "127.0.0.1", Port: int32(port)}}
	coordinator := groups.New(groups.Config{}, store, soleOwner{members}, nil, discardLogger())
	deps := Deps{
		Topics:     cache,
		Log:        store,
		Records:    store,
		Producer:   batcher,
		Reader:     reader,
		Groups:     coordinator,
		Notifier:   notifier,
		Membership: members,
		ClusterID:  "test-cluster",
		Logger:     discardLogger(),
	}
	if edit != nil {
		edit(&deps)
	}
	srv := NewServer(cfg, deps)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after cancel")
		}
		closeCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		if err := batcher.Close(closeCtx); err != nil {
			t.Errorf("batcher close: %v", err)
		}
		coordinator.Close()
		bucket.Close()
		store.Close()
	})
	return &testServer{t: t, srv: srv, addr: ln.Addr().String(), store: store, bucketDir: bucketDir, topics: cache}
}

// soleOwner makes the lone agent the owner of every consumer group.
type soleOwner struct{ cluster.Single }

func (o soleOwner) Owner(string) cluster.Broker { return o.Self() }

// createTopic creates a topic straight in the store (through the cache, so
// the server sees it at once).
func (ts *testServer) createTopic(name string, partitions int32, configs map[string]string) metadata.Topic {
	ts.t.Helper()
	tp, err := ts.topics.CreateTopic(context.Background(), name, partitions, configs)
	if err != nil {
		ts.t.Fatal(err)
	}
	return tp
}

// hw returns a partition's high watermark from the metadata store.
func (ts *testServer) hw(topic string, partition int32) int64 {
	ts.t.Helper()
	tp, err := ts.store.Topic(context.Background(), topic)
	if err != nil {
		ts.t.Fatal(err)
	}
	st, err := ts.store.PartitionState(context.Background(), tp.ID, partition)
	if err != nil {
		ts.t.Fatal(err)
	}
	return st.HighWatermark
}

// files counts the segment files in the bucket directory.
func (ts *testServer) files() int {
	ts.t.Helper()
	n := 0
	err := filepath.WalkDir(ts.bucketDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".slc") {
			n++
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		ts.t.Fatal(err)
	}
	return n
}

// rawConn is a bare Kafka protocol client: it frames kmsg requests and
// decodes responses, and nothing else.
type rawConn struct {
	t    testing.TB
	c    net.Conn
	br   *bufio.Reader
	corr int32
}

func (ts *testServer) dial() *rawConn { return ts.dialT(ts.t) }

// dialT connects a rawConn that reports failures to t.
func (ts *testServer) dialT(t testing.TB) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

var formatter = kmsg.NewRequestFormatter(kmsg.FormatterClientID("badinput-test"))

// encodeRequest frames req (size prefix included) with correlation ID corr.
func encodeRequest(req kmsg.Request, corr int32) []byte {
	return formatter.AppendRequest(nil, req, corr)
}

func (rc *rawConn) write(b []byte) {
	rc.t.Helper()
	rc.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := rc.c.Write(b); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

// send writes req and returns its correlation ID.
func (rc *rawConn) send(req kmsg.Request) int32 {
	rc.t.Helper()
	rc.corr++
	rc.write(encodeRequest(req, rc.corr))
	return rc.corr
}

// readFrame reads one response frame and returns its correlation ID and the
// rest of the frame.
func (rc *rawConn) readFrame() (int32, []byte, error) {
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(rc.br, size[:]); err != nil {
		return 0, nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > 64<<20 {
		return 0, nil, errors.New("bad response frame size")
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rc.br, body); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(body)), body[4:], nil
}

// recv reads the response to req, sent with correlation ID corr, and decodes
// it as req's response kind at req's version.
func (rc *rawConn) recv(req kmsg.Request, corr int32) kmsg.Response {
	rc.t.Helper()
	got, body, err := rc.readFrame()
	if err != nil {
		rc.t.Fatalf("reading response to %s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	if got != corr {
		rc.t.Fatalf("response correlation ID %d, want %d", got, corr)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != apiVersionsKey {
		// Response header v1: an empty tag section.
		if len(body) == 0 || body[0] != 0 {
			rc.t.Fatalf("flexible response header has no empty tag section: % x", body[:min(len(body), 8)])
		}
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		rc.t.Fatalf("decode %s v%d response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// roundTrip sends req and returns its decoded response.
func (rc *rawConn) roundTrip(req kmsg.Request) kmsg.Response {
	rc.t.Helper()
	return rc.recv(req, rc.send(req))
}

// expectClosed asserts the server closes the connection without sending
// anything: the next read returns io.EOF.
func (rc *rawConn) expectClosed() {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var buf [1]byte
	n, err := rc.br.Read(buf[:])
	if n != 0 || !errors.Is(err, io.EOF) {
		rc.t.Fatalf("read after bad request = %d bytes, %v; want the connection closed (EOF)", n, err)
	}
}

// expectDropped is expectClosed for connections the server may close with
// unread bytes still queued, which the kernel answers with a reset.
func (rc *rawConn) expectDropped() {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var buf [1]byte
	n, err := rc.br.Read(buf[:])
	if n != 0 || !(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		rc.t.Fatalf("read after bad request = %d bytes, %v; want the connection closed", n, err)
	}
}

// apiVersions checks that the connection serves a plain ApiVersions v3.
func (rc *rawConn) apiVersions() *kmsg.ApiVersionsResponse {
	rc.t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName = "sluice-test"
	req.ClientSoftwareVersion = "1.0"
	resp := rc.roundTrip(req).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 || len(resp.ApiKeys) != len(supported) {
		rc.t.Fatalf("ApiVersions v3: error %d, %d keys; want 0, %d", resp.ErrorCode, len(resp.ApiKeys), len(supported))
	}
	return resp
}

// encodeRecords encodes n records; record i has value value(i).
func encodeRecords(n int, value func(i int) []byte) []byte {
	var out []byte
	for i := 0; i < n; i++ {
		r := kmsg.Record{TimestampDelta64: int64(i), OffsetDelta: int32(i), Key: []byte{'k', byte('0' + i%10)}, Value: value(i),
			Headers: []kmsg.Header{{Key: "h", Value: []byte("v")}}}
		body := r.AppendTo(nil)[1:] // drop the placeholder length varint (0 is one byte)
		out = kbin.AppendVarint(out, int32(len(body)))
		out = append(out, body...)
	}
	return out
}

// finishBatch encodes b with its Length and CRC computed.
func finishBatch(b *kmsg.RecordBatch) []byte {
	b.Length = int32(49 + len(b.Records))
	raw := b.AppendTo(nil)
	return fixCRC(raw)
}

// fixCRC recomputes the CRC of a v2 batch in place.
func fixCRC(raw []byte) []byte {
	records.SetCRC(raw)
	return raw
}

// newBatch returns a valid uncompressed producer batch of n records whose
// values are valueSize bytes; mod, if set, edits it before encoding.
func newBatch(n, valueSize int, mod func(*kmsg.RecordBatch)) []byte {
	const ts = 1_700_000_000_000
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(n - 1),
		FirstTimestamp:       ts,
		MaxTimestamp:         ts + int64(n-1),
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(n),
		Records: encodeRecords(n, func(i int) []byte {
			return bytes.Repeat([]byte{byte('a' + i%26)}, valueSize)
		}),
	}
	if mod != nil {
		mod(&b)
	}
	return finishBatch(&b)
}

// compressedBatch returns a valid batch of n records compressed with codec.
func compressedBatch(n int, codec kgo.CompressionCodec) []byte {
	c, err := kgo.DefaultCompressor(codec)
	if err != nil {
		panic(err)
	}
	return newBatch(n, 20, func(b *kmsg.RecordBatch) {
		out, typ := c.Compress(new(bytes.Buffer), b.Records)
		b.Records = append([]byte(nil), out...)
		b.Attributes = int16(typ)
	})
}
