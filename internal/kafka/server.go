// Package kafka is the agent's Kafka protocol front end: the listener, the
// per-connection request loop, ApiVersions, and one handler file per API key
// (NN_name.go, NN being the key). Handlers reach storage only through the
// small interfaces below; internal/agent picks the implementations.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/acl"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/dynconfig"
	"github.com/sluicehq/sluice/internal/events"
	"github.com/sluicehq/sluice/internal/fetch"
	"github.com/sluicehq/sluice/internal/groups"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/produce"
)

// Producer is the write path (produce.Batcher). Each connection is one
// produce.Source, forgotten when the connection closes.
type Producer interface {
	SubmitFrom(ctx context.Context, src *produce.Source, batches []produce.Batch) (*produce.Pending, error)
	Forget(src *produce.Source)
}

// Reader is the read path (fetch.Reader).
type Reader interface {
	Read(ctx context.Context, topic metadata.TopicID, partition int32, offset int64, maxBytes int, minOne bool) (fetch.Result, error)
	ReadFetch(ctx context.Context, reqs []fetch.Request, maxBytes int) []fetch.Outcome
	OffsetForTimestamp(ctx context.Context, topic metadata.TopicID, partition int32, ts int64) (offset, timestamp int64, found bool, err error)
}

// GroupCoordinator is the consumer group coordinator (groups.Coordinator).
type GroupCoordinator interface {
	Owner(group string) cluster.Broker
	Join(ctx context.Context, req groups.JoinRequest) <-chan groups.JoinResult
	Sync(ctx context.Context, req groups.SyncRequest) <-chan groups.SyncResult
	Heartbeat(ctx context.Context, group, memberID string, instanceID *string, generation int32) error
	Leave(ctx context.Context, group string, members []groups.LeavingMember) ([]error, error)
	Commit(ctx context.Context, group, memberID string, instanceID *string, generation int32, offsets []metadata.OffsetCommit) ([]error, error)
	// OffsetFetch answers one group of an OffsetFetch, member checks and
	// require_stable included.
	OffsetFetch(ctx context.Context, req groups.OffsetFetchRequest) ([]groups.FetchedOffset, error)
	// TxnCommit stages a TxnOffsetCommit's offsets.
	TxnCommit(ctx context.Context, req groups.TxnOffsetCommitRequest) ([]error, error)
	Describe(ctx context.Context, group string) (groups.Description, error)
	List(ctx context.Context, states []string) ([]groups.Listing, error)
	Delete(ctx context.Context, group string) error
	DeleteOffsets(ctx context.Context, group string, offsets []metadata.OffsetCommit) ([]error, error)
	// KIP-848 consumer groups.
	ConsumerHeartbeat(ctx context.Context, req groups.ConsumerHeartbeatRequest) groups.ConsumerHeartbeatResult
	DescribeConsumerGroup(ctx context.Context, group string) (groups.ConsumerGroupDescription, error)
}

// TxnCoordinator is the transaction coordinator (txn.Coordinator).
type TxnCoordinator interface {
	Owner(id string) cluster.Broker
	InitProducerID(ctx context.Context, id string, timeout time.Duration, expectedID int64, expectedEpoch int16) (int64, int16, error)
	AddPartitions(ctx context.Context, id string, producerID int64, epoch int16, parts []metadata.TxnPartition) error
	AddOffsets(ctx context.Context, id string, producerID int64, epoch int16, group string) error
	// Verify reports per partition whether the producer's ongoing
	// transaction covers it (AddPartitionsToTxn v4+ VerifyOnly).
	Verify(ctx context.Context, id string, producerID int64, epoch int16, parts []metadata.TxnPartition) ([]error, error)
	EndTxn(ctx context.Context, id string, producerID int64, epoch int16, commit bool) error
	// EndTxnBump is EndTxn v5 (KIP-890 transaction version 2): the end
	// bumps the epoch and returns the producer's new ID and epoch.
	EndTxnBump(ctx context.Context, id string, producerID int64, epoch int16, commit bool) (int64, int16, error)
	// AddImplicitly adds partitions and a group to the producer's
	// transaction for Produce v12+ and TxnOffsetCommit v5+; any agent may
	// call it.
	AddImplicitly(ctx context.Context, id string, producerID int64, epoch int16, parts []metadata.TxnPartition, group string) error
	Describe(ctx context.Context, id string) (metadata.Transaction, error)
	List(ctx context.Context) ([]metadata.Transaction, error)
}

// Config holds the protocol-level settings and limits.
type Config struct {
	// MaxRequestBytes is the largest request frame accepted; larger frames
	// close the connection, as Kafka's socket.request.max.bytes does.
	MaxRequestBytes int32
	// MaxMessageBytes is the default largest record batch for topics that do
	// not set max.message.bytes.
	MaxMessageBytes int
	// AutoCreateTopics creates unknown topics on Metadata requests that
	// allow it.
	AutoCreateTopics bool
	// DefaultPartitions is the partition count of auto-created topics and of
	// CreateTopics requests that pass -1.
	DefaultPartitions int32
	// QuotaWindow and QuotaWindowSamples shape the client quota rate
	// window (Kafka's quota.window.size.seconds and quota.window.num); 0
	// means 1s and 11.
	QuotaWindow        time.Duration
	QuotaWindowSamples int
	// MaxPartitions caps a topic's partition count (CreateTopics and
	// CreatePartitions get INVALID_PARTITIONS above it), so one request
	// cannot stall the metadata store with millions of rows.
	MaxPartitions int32
	// MaxInFlightPerConn bounds the requests one connection may have
	// outstanding before the agent stops reading from it (0 means
	// defaultMaxInFlightPerConn).
	MaxInFlightPerConn int
	// LogDir is the log dir DescribeLogDirs reports: the bucket URL,
	// without credentials.
	LogDir string
	// QueuedMaxRequestBytes bounds the bytes of requests in progress on all
	// connections together (Kafka's queued.max.request.bytes); beyond it
	// connections stop being read until requests finish. 0 means 500 MiB;
	// negative means unbounded.
	QueuedMaxRequestBytes int64
	// ProduceTimeout bounds how long a produce request waits for its flush
	// when the client's own timeout is longer (or unset); past it the
	// request gets REQUEST_TIMED_OUT, never a hang. 0 means 30s.
	ProduceTimeout time.Duration
	// FetchSessionSlots bounds the incremental fetch sessions (KIP-227)
	// the agent keeps, as Kafka's max.incremental.fetch.session.cache.slots;
	// 0 serves none (every fetch is a full one). Negative means 0.
	FetchSessionSlots int
	// AuthFailureDelay is how long a failed SASL authentication waits
	// before its answer and the closing of its connection (Kafka's
	// connection.failed.authentication.delay.ms). 0 means 1s; negative
	// means none.
	AuthFailureDelay time.Duration
	// ACLEventsAllowed records allowed ACL decisions in the ACL event
	// stream too (--events-acl-allowed); denials always are.
	ACLEventsAllowed bool
	// MaxReauth bounds a SASL session (Kafka's connections.max.reauth.ms):
	// a client that authenticated with SaslAuthenticate v1+ must
	// re-authenticate within it. 0 bounds sessions only by their
	// credential's expiry.
	MaxReauth time.Duration
	// DefaultTopicType is the sluice.topic.type that topics get when they
	// are created without one ("" or classic: nothing is stored; lightning
	// is stored on the topic, so a later change of the default changes
	// no existing topic).
	DefaultTopicType string
}

// defaultMaxInFlightPerConn is how many requests one connection may have
// outstanding before the agent stops reading it. A produce request waits
// for its batch window, so a connection gets at most this many requests
// answered per window. librdkafka without idempotence (its default) sends
// one request per partition every linger.ms with no in-flight limit of its
// own: 8 partitions, linger.ms=5 and 250ms windows make 400 requests a
// window, and at the old bound of 32 such a producer fell ever further
// behind. The bytes of outstanding requests stay bounded by
// QueuedMaxRequestBytes across all connections.
const defaultMaxInFlightPerConn = 1024

func (c *Config) setDefaults() {
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = 100 << 20
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 1048588
	}
	if c.MaxPartitions <= 0 {
		c.MaxPartitions = 10000
	}
	if c.DefaultPartitions <= 0 {
		c.DefaultPartitions = 1
	}
	if c.MaxInFlightPerConn <= 0 {
		c.MaxInFlightPerConn = defaultMaxInFlightPerConn
	}
	if c.ProduceTimeout <= 0 {
		c.ProduceTimeout = 30 * time.Second
	}
	if c.QueuedMaxRequestBytes == 0 {
		c.QueuedMaxRequestBytes = 500 << 20
	}
	if c.AuthFailureDelay == 0 {
		c.AuthFailureDelay = time.Second
	}
	c.AuthFailureDelay = max(c.AuthFailureDelay, 0)
}

// Server serves the Kafka protocol.
type Server struct {
	cfg Config
	// topics is the store's topics plus Kafka's virtual internal ones
	// (internal_topics.go); ktopics is the same value, for isVirtual.
	topics   metadata.Topics
	ktopics  *kafkaTopics
	log      metadata.Log
	records  RecordDeleter
	producer Producer
	reader   Reader
	groups   GroupCoordinator
	txn      TxnCoordinator
	txnLog   metadata.Transactions
	members  cluster.Membership
	scram    auth.ScramStore // nil: no credential store
	cluster  string          // cluster ID
	metrics  *Metrics
	logger   *slog.Logger
	// authz decides every client request (authz.go).
	authz Authorizer
	// events receives the audit events of admin requests (audit.go); nil
	// records nothing.
	events events.Emitter
	// bucketReady is Deps.BucketReady, or always nil.
	bucketReady func() error
	// schemas is Deps.Schemas (nil: no schema validation).
	schemas SchemaValidator
	// dyn is the dynamic broker configs and client quotas (Deps.Dynamic
	// or one of its own in memory); quotas measures usage against them
	// (quota.go).
	dyn    *dynconfig.Manager
	quotas *dynconfig.Throttler

	// fetcher answers Fetch requests through reader, Deps.Transactions
	// and Deps.Notifier.
	fetcher *fetch.Fetcher

	// queued bounds request bytes in progress across connections.
	queued *requestBudget

	// sessions are the incremental fetch sessions (nil: none served).
	sessions *fetchSessions

	mu    sync.Mutex // guards conns, lns, draining and drainingSet
	conns map[net.Conn]struct{}
	lns   []net.Listener
	// draining is closed by Drain: readers stop taking requests and each
	// connection closes once its requests are answered.
	draining    chan struct{}
	drainingSet bool
	wg          sync.WaitGroup // connection goroutines
}

// Deps are the server's collaborators.
type Deps struct {
	Topics   metadata.Topics
	Log      metadata.Log
	Records  RecordDeleter
	Producer Producer
	Reader   Reader
	Groups   GroupCoordinator
	Txn      TxnCoordinator
	// Transactions is the store's transaction index (read_committed
	// fetches, ListOffsets, DescribeProducers). Staged transactional
	// offsets are the group coordinator's.
	Transactions metadata.Transactions
	Notifier     *fetch.Notifier
	Membership   cluster.Membership
	ClusterID    string
	Metrics      *Metrics
	Logger       *slog.Logger
	// BucketReady, if set, reports whether the bucket is known to be
	// failing (the agent's readiness prober): produce requests are then
	// refused at once with KAFKA_STORAGE_ERROR, which clients retry.
	BucketReady func() error
	// Authorizer decides client requests; nil allows everything and
	// answers the ACL APIs with SECURITY_DISABLED (acl.Off).
	Authorizer Authorizer
	// Schemas, if set, validates records of topics with
	// confluent.key/value.schema.validation on.
	Schemas SchemaValidator
	// Scram is the SCRAM credential store DescribeUserScramCredentials
	// and AlterUserScramCredentials serve (nil: they fail).
	Scram auth.ScramStore
	// Events, if set, receives an audit event for every mutating admin
	// request (audit.go). Emit must not block.
	Events events.Emitter
	// Dynamic holds the dynamic broker configs and client quotas shared
	// through the metadata store (nil: kept in memory by this server).
	Dynamic *dynconfig.Manager
}

// NewServer returns a Server; call Serve to accept connections.
func NewServer(cfg Config, d Deps) *Server {
	cfg.setDefaults()
	if d.Metrics == nil {
		d.Metrics = NewMetrics(nil)
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Authorizer == nil {
		d.Authorizer = acl.Off()
	}
	if d.BucketReady == nil {
		d.BucketReady = func() error { return nil }
	}
	kt := newKafkaTopics(d.Topics, d.ClusterID)
	if d.Dynamic == nil {
		var node int32
		if d.Membership != nil {
			node = d.Membership.Self().NodeID
		}
		d.Dynamic = dynconfig.New(dynconfig.Config{NodeID: node, Logger: d.Logger}, nil)
		d.Dynamic.Load(context.Background()) // a MemStore does not fail
	}
	var sessions *fetchSessions
	if cfg.FetchSessionSlots > 0 {
		sessions = newFetchSessions(cfg.FetchSessionSlots, d.Metrics.fetchSessions)
	}
	return &Server{
		sessions: sessions,
		dyn:      d.Dynamic, quotas: dynconfig.NewThrottler(cfg.QuotaWindow, cfg.QuotaWindowSamples),
		cfg: cfg, topics: kt, ktopics: kt, log: d.Log, records: d.Records, producer: d.Producer, reader: d.Reader, groups: d.Groups,
		txn: d.Txn, txnLog: d.Transactions,
		members: d.Membership, cluster: d.ClusterID, scram: d.Scram,
		metrics: d.Metrics, logger: d.Logger, conns: make(map[net.Conn]struct{}),
		fetcher:     fetch.NewFetcher(d.Reader, d.Transactions, d.Notifier),
		queued:      newRequestBudget(cfg.QueuedMaxRequestBytes, d.Metrics.queuedBytes),
		bucketReady: d.BucketReady,
		authz:       d.Authorizer,
		schemas:     d.Schemas,
		events:      d.Events,
		draining:    make(chan struct{}),
	}
}

// Serve accepts PLAINTEXT connections on ln until ctx is cancelled or
// Close is called, then closes every connection and waits for them.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.ServeListener(ctx, ln, Listener{Name: "PLAINTEXT", Protocol: auth.Plaintext})
}

// ServeListener is Serve for a listener secured as l says. One server
// may serve several listeners at once, each from its own call.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener, l Listener) error {
	if l.Name == "" {
		l.Name = "PLAINTEXT"
	}
	if l.Protocol == "" {
		l.Protocol = auth.Plaintext
	}
	if l.Protocol.TLS() && l.TLS == nil {
		return fmt.Errorf("kafka: listener %s: %s needs a TLS configuration", l.Name, l.Protocol)
	}
	if l.Protocol.SASL() && (l.SASL == nil || len(l.SASL.Mechanisms()) == 0) {
		return fmt.Errorf("kafka: listener %s: %s needs SASL mechanisms", l.Name, l.Protocol)
	}
	s.mu.Lock()
	s.lns = append(s.lns, ln)
	if s.drainingSet {
		ln.Close()
	}
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	var tempDelay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				s.wg.Wait()
				return nil
			}
			// Transient accept errors (EMFILE …): back off and keep going.
			tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
			s.logger.Warn("accept failed", "err", err, "retry_in", tempDelay)
			time.Sleep(tempDelay)
			continue
		}
		tempDelay = 0
		s.mu.Lock()
		s.conns[c] = struct{}{}
		if s.drainingSet {
			c.SetReadDeadline(time.Now())
		}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, c, &l)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// StopAccepting closes the listener: no new connections, while the open
// ones keep being served. Serve returns once they are all closed.
func (s *Server) StopAccepting() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ln := range s.lns {
		ln.Close()
	}
}

// Drain shuts the server down gracefully: it stops accepting, stops
// reading new requests on every connection, and lets each connection write
// the answers of the requests it already read (a produce waiting for its
// flush gets its acknowledgement) before closing it. When ctx ends first,
// the remaining connections are closed at once. It returns once every
// connection and request goroutine has finished.
func (s *Server) Drain(ctx context.Context) error {
	s.mu.Lock()
	for _, ln := range s.lns {
		ln.Close()
	}
	if !s.drainingSet {
		s.drainingSet = true
		close(s.draining)
	}
	// A read deadline in the past ends every blocked read (and every
	// later one): each reader returns, and its writer answers what is
	// queued and closes the connection.
	for c := range s.conns {
		c.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.Close()
		<-done
		return ctx.Err()
	}
}

// Close stops accepting and closes every open connection.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
}
