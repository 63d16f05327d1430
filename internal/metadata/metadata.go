// Package metadata defines the metadata store: the database that names
// topics, sequences committed files into partition logs, and indexes where
// every offset lives in the bucket. It is the only place agents agree on
// state; backends (sqlite/ embedded, postgres/ for clusters) implement Store
// with the rules of sequencer/, keeping only their SQL, locking and clock,
// and pass the shared conformance suite in metadatatest/.
package metadata

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"time"
)

// Sentinel errors; backends wrap them, callers test with errors.Is.
var (
	ErrTopicExists      = errors.New("metadata: topic already exists")
	ErrUnknownTopic     = errors.New("metadata: unknown topic")
	ErrUnknownPartition = errors.New("metadata: unknown partition")
	ErrNotFound         = errors.New("metadata: not found")
	// ErrPartitionCount is returned by AddPartitions when the requested
	// count does not exceed the topic's current one.
	ErrPartitionCount = errors.New("metadata: partition count can only be increased")
)

// TopicID is a topic's UUID, as Kafka's topic IDs (KIP-516).
type TopicID [16]byte

func (id TopicID) String() string { return hex.EncodeToString(id[:]) }

// Base64 renders the ID the way Kafka tools print topic IDs.
func (id TopicID) Base64() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// Topic is a topic's definition.
type Topic struct {
	ID         TopicID
	Name       string
	Partitions int32
	// Configs holds only the configs set explicitly on the topic.
	Configs   map[string]string
	CreatedAt time.Time
}

// PartitionStateResult is one partition's answer to PartitionStates.
type PartitionStateResult struct {
	PartitionState
	// Err is ErrUnknownPartition (wrapped) for a partition the store does
	// not have, else nil.
	Err error
}

// PartitionState is a partition's committed log bounds.
type PartitionState struct {
	// LogStartOffset is the first offset still readable.
	LogStartOffset int64
	// HighWatermark is the offset the next committed batch will get; every
	// offset below it (and at or above LogStartOffset) is readable.
	HighWatermark int64
}

// BatchCommit is one record batch of an uploaded file, to be sequenced.
type BatchCommit struct {
	TopicID   TopicID
	Partition int32
	// ByteOffset and ByteLength locate the batch inside the file.
	ByteOffset int64
	ByteLength int64
	// Records is the number of offsets the batch occupies.
	Records      int64
	MaxTimestamp int64
	// Producer is set for batches of idempotent producers: the store then
	// checks the producer's epoch and sequence numbers for the partition in
	// the commit transaction.
	Producer *ProducerBatch
	// Transactional marks a batch of a transactional producer: it commits
	// only if the producer's ongoing transaction covers the partition
	// (ErrInvalidTxnState otherwise), and opens the producer's transaction
	// on the partition if it is its first batch there.
	Transactional bool
	// Marker, if set, makes the batch a transaction marker (Producer is
	// then nil): see TxnMarker.
	Marker *TxnMarker
}

// ProducerBatch is the idempotence header of a batch.
type ProducerBatch struct {
	ID            int64
	Epoch         int16
	FirstSequence int32
}

// FileCommit describes an uploaded file to sequence. Batches of one
// partition are sequenced in the order listed; batches of a partition that
// are adjacent in the list and in the file share one index extent.
type FileCommit struct {
	Key     string
	Size    int64
	Batches []BatchCommit
	// Journal, if set, is the journaled file's place in its agent's
	// journal: the commit also advances that generation's JournalMark,
	// in the same transaction.
	Journal *JournalMark
}

// BatchResult is the outcome of committing one batch.
type BatchResult struct {
	// BaseOffset is the offset of the batch's first record.
	BaseOffset int64
	// Duplicate reports a batch its producer had already committed (a
	// retry): nothing was appended and BaseOffset is the original's.
	Duplicate bool
	// Err is nil or one of ErrUnknownTopic, ErrUnknownPartition,
	// ErrOutOfOrderSequence, ErrInvalidProducerEpoch, ErrUnknownProducerID;
	// a failed batch takes no offsets.
	Err error
}

// FileResult is the outcome of one file of a CommitFiles call: its
// batches' results, or Err (only ErrFileCommitted) when its key was
// already recorded.
type FileResult struct {
	Batches []BatchResult
	Err     error
}

// ErrFileCommitted is returned by CommitFile for a key that already has a
// file record.
var ErrFileCommitted = errors.New("metadata: file already committed")

// Idempotent-producer errors.
var (
	ErrOutOfOrderSequence   = errors.New("metadata: out of order sequence number")
	ErrInvalidProducerEpoch = errors.New("metadata: producer epoch is older than the current one")
	ErrUnknownProducerID    = errors.New("metadata: no state for this producer id")
)

// ProducerBatchesKept is how many recent batches per producer and partition
// the store remembers to recognise retries, as Kafka does.
const ProducerBatchesKept = 5

// Extent locates a committed chunk: offsets [BaseOffset, EndOffset) of one
// partition live at ByteOffset..ByteOffset+ByteLength of object FileKey.
type Extent struct {
	TopicID      TopicID
	Partition    int32
	BaseOffset   int64
	EndOffset    int64
	FileKey      string
	ByteOffset   int64
	ByteLength   int64
	MaxTimestamp int64
	CommittedAt  time.Time
	// FileSize is the size of the whole file FileKey (readers cache files
	// in blocks and check every block's length against it).
	FileSize int64
}

// TopicSpec is a topic to create.
type TopicSpec struct {
	Name       string
	Partitions int32
	Configs    map[string]string
}

// TopicResult is one topic's outcome in CreateTopics: the topic created,
// or ErrTopicExists.
type TopicResult struct {
	Topic Topic
	Err   error
}

// Topics manages topic definitions.
type Topics interface {
	// CreateTopic creates a topic with a fresh ID, or fails with
	// ErrTopicExists.
	CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (Topic, error)
	// CreateTopics creates several topics in one store transaction, each
	// as CreateTopic would. Results are in specs' order: a name that
	// exists gets ErrTopicExists in its result without failing the
	// others. Names must be distinct. An error fails the whole call and
	// creates nothing.
	CreateTopics(ctx context.Context, specs []TopicSpec) ([]TopicResult, error)
	// DeleteTopic removes a topic, its log index, its producers' state and
	// transaction index, or fails with ErrUnknownTopic. Its data files are
	// left for the orphan sweeper.
	DeleteTopic(ctx context.Context, name string) (Topic, error)
	// Topic looks a topic up by name (ErrUnknownTopic if absent).
	Topic(ctx context.Context, name string) (Topic, error)
	// TopicsByName looks many topics up by name in one call, with a
	// number of statements that does not grow per name (a Metadata or
	// Produce request naming 10,000 topics is not 10,000 lookups). It
	// returns the topics that exist, keyed by name; a name missing from
	// the map is unknown. An error fails the whole call.
	TopicsByName(ctx context.Context, names []string) (map[string]Topic, error)
	// TopicByID looks a topic up by ID (ErrUnknownTopic if absent).
	TopicByID(ctx context.Context, id TopicID) (Topic, error)
	// ListTopics returns every topic, sorted by name.
	ListTopics(ctx context.Context) ([]Topic, error)
	// AlterTopicConfigs replaces a topic's explicitly set configs with
	// what fn returns when given the current ones, atomically (fn may run
	// more than once; an error from fn aborts the change and is returned).
	// It fails with ErrUnknownTopic for missing topics.
	AlterTopicConfigs(ctx context.Context, name string, fn func(current map[string]string) (map[string]string, error)) (Topic, error)
	// AddPartitions raises a topic's partition count to count, creating
	// the new partitions with empty logs. It fails with ErrPartitionCount
	// (wrapped, with the current count) unless count exceeds the current
	// count, and with ErrUnknownTopic for missing topics.
	AddPartitions(ctx context.Context, name string, count int32) (Topic, error)
}

// Log sequences files into partition logs and answers index lookups.
type Log interface {
	// CommitFile records an uploaded file and assigns each batch the next
	// offsets of its partition, atomically: after it returns nil, every
	// batch with a nil Err (and not Duplicate) is readable, and no
	// partition's log has gaps. Results are in c.Batches order. An error
	// means nothing of the file was committed. A key already recorded
	// fails with ErrFileCommitted and changes nothing, so a file commit
	// that is retried (journal recovery, a commit whose answer was lost)
	// is sequenced at most once.
	CommitFile(ctx context.Context, c FileCommit) ([]BatchResult, error)
	// CommitFiles commits files in the order given, in one transaction,
	// as CommitFile would commit them one after the other: a partition's
	// batches of a later file get offsets after those of an earlier one,
	// and each file's Journal mark advances with it. A file whose key is
	// already recorded (before the call, or by an earlier file of the
	// same call) gets ErrFileCommitted in its FileResult and changes
	// nothing; the others still commit. Results are in files order. An
	// error means nothing of any file was committed. The journal's
	// backlog is sequenced with it, several files per transaction, once
	// the store answers again after an outage (see internal/produce).
	CommitFiles(ctx context.Context, files []FileCommit) ([]FileResult, error)
	// AllocateProducerID returns a producer ID never handed out before.
	AllocateProducerID(ctx context.Context) (int64, error)
	// PartitionState returns a partition's log bounds.
	PartitionState(ctx context.Context, topic TopicID, partition int32) (PartitionState, error)
	// PartitionStates returns the log bounds of many partitions in one
	// call, in ps order, with a number of statements that does not grow
	// per partition (a fetch of 1,000 partitions is not 1,000 lookups).
	// A partition the store lacks gets ErrUnknownPartition (wrapped) in
	// its result's Err; an error fails the whole call.
	PartitionStates(ctx context.Context, ps []TopicPartition) ([]PartitionStateResult, error)
	// Extents returns up to limit extents of a partition in offset order,
	// starting with the one that contains offset from.
	Extents(ctx context.Context, topic TopicID, partition int32, from int64, limit int) ([]Extent, error)
	// ExtentAtTimestamp returns the first extent (in offset order) whose max
	// timestamp is at or after ts, or ErrNotFound.
	ExtentAtTimestamp(ctx context.Context, topic TopicID, partition int32, ts int64) (Extent, error)
	// PartitionBytes returns, per partition of a topic that has committed
	// data, the bytes its extents occupy in the bucket.
	PartitionBytes(ctx context.Context, topic TopicID) (map[int32]int64, error)
}

// Store is a complete metadata backend.
type Store interface {
	Topics
	Log
	Agents
	Groups
	Lifecycle
	Transactions
	JournalMarks
	// ClusterID returns the cluster's ID, created once and stable forever.
	ClusterID(ctx context.Context) (string, error)
	Close() error
}

// ErrFenced is returned when a write is made under an ownership epoch that
// another agent has since superseded.
var ErrFenced = errors.New("metadata: fenced by a newer owner")

// ErrGroupNotFound is returned for groups the store has never seen (or has
// deleted).
var ErrGroupNotFound = errors.New("metadata: group not found")

// Agent is a registered agent.
type Agent struct {
	NodeID int32
	Host   string
	Port   int32
	Zone   string
	// Instance distinguishes restarts of the same node ID.
	Instance    string
	HeartbeatAt time.Time
	// PeerAddr is the host:port on which the agent serves its block cache
	// to the agents of its zone ("" when it does not).
	PeerAddr string
	// Listeners are the agent's advertised listeners, written as Kafka's
	// advertised.listeners ("NAME://host:port,…"; internal/cluster reads
	// and writes it); "" means only Host and Port.
	Listeners string
	// Roles are the agent's roles, comma separated ("proxy,jobs"; "" from
	// agents older than roles, which have all of proxy and jobs).
	Roles string
	// Group is the agent group whose clients the agent serves ("" is the
	// default group).
	Group string
}

// Agents is the registry of live agents: each agent refreshes its entry
// periodically, and entries not refreshed within a TTL are not live.
type Agents interface {
	// HeartbeatAgent creates or refreshes a's entry with the store's clock.
	HeartbeatAgent(ctx context.Context, a Agent) error
	// LiveAgents returns agents whose last heartbeat is younger than ttl,
	// sorted by node ID.
	LiveAgents(ctx context.Context, ttl time.Duration) ([]Agent, error)
	// RemoveAgent deletes an agent's entry (on clean shutdown).
	RemoveAgent(ctx context.Context, nodeID int32, instance string) error
}

// Group is a consumer group's persisted state. Snapshot is the
// coordinator's own encoding of members and assignments; the store treats
// it as opaque.
type Group struct {
	Name         string
	OwnerEpoch   int64
	Generation   int32
	ProtocolType string
	Protocol     string
	State        string
	Snapshot     []byte
	UpdatedAt    time.Time
}

// OffsetCommit is one partition's committed offset.
type OffsetCommit struct {
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32
	Metadata    string
	CommittedAt time.Time
}

// Groups persists consumer groups and their committed offsets. Writes carry
// the owner epoch obtained from ClaimGroup and fail with ErrFenced once
// another agent has claimed the group.
type Groups interface {
	// ClaimGroup makes the caller the group's owner: it increments the
	// owner epoch (creating the group, Empty, if new) and returns the state
	// under the new epoch.
	ClaimGroup(ctx context.Context, group string) (Group, error)
	// SaveGroup stores g if g.OwnerEpoch is still the group's epoch.
	SaveGroup(ctx context.Context, g Group) error
	// Group returns a group's state (ErrGroupNotFound if absent).
	Group(ctx context.Context, group string) (Group, error)
	// ListGroups returns every group, sorted by name.
	ListGroups(ctx context.Context) ([]Group, error)
	// DeleteGroup removes a group and its offsets under epoch.
	DeleteGroup(ctx context.Context, group string, epoch int64) error
	// CommitOffsets stores offsets under epoch, atomically.
	CommitOffsets(ctx context.Context, group string, epoch int64, offsets []OffsetCommit) error
	// FetchOffsets returns a group's committed offsets, sorted by topic and
	// partition.
	FetchOffsets(ctx context.Context, group string) ([]OffsetCommit, error)
	// DeleteOffsets removes the given partitions' offsets under epoch.
	DeleteOffsets(ctx context.Context, group string, epoch int64, offsets []OffsetCommit) error
}
