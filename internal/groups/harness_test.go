package groups

// The coordinator harness the unit and scenario tests share: a real
// SQLite store (with injectable SaveGroup failures) and helpers for
// KIP-848 heartbeats.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
)

// flakyStore fails SaveGroup on demand.
type flakyStore struct {
	*sqlite.Store
	failSave  atomic.Bool
	failTopic atomic.Bool // Topic fails as a store that cannot be reached
}

func (s *flakyStore) Topic(ctx context.Context, name string) (metadata.Topic, error) {
	if s.failTopic.Load() {
		return metadata.Topic{}, errors.New("injected: connection refused")
	}
	return s.Store.Topic(ctx, name)
}

func (s *flakyStore) SaveGroup(ctx context.Context, g metadata.Group) error {
	if s.failSave.Load() {
		return errors.New("injected save failure")
	}
	return s.Store.SaveGroup(ctx, g)
}

type selfOwner struct{ b cluster.Broker }

func (o selfOwner) Self() cluster.Broker { return o.b }

func (o selfOwner) Owner(string) cluster.Broker { return o.b }

type harness struct {
	t     *testing.T
	store *flakyStore
	c     *Coordinator
	cfg   Config
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: &flakyStore{Store: st}, cfg: cfg}
	h.c = New(cfg, h.store, selfOwner{cluster.Broker{NodeID: 1}}, nil, quietLogger())
	t.Cleanup(func() {
		h.c.Close()
		st.Close()
	})
	return h
}

// restart replaces the coordinator with a new one over the same store, as
// another agent (or this one restarted) taking the groups over.
func (h *harness) restart() *Coordinator {
	old := h.c
	h.c = New(h.cfg, h.store, selfOwner{cluster.Broker{NodeID: 2}}, nil, quietLogger())
	h.t.Cleanup(h.c.Close)
	return old
}

func (h *harness) topic(name string, partitions int32) metadata.TopicID {
	h.t.Helper()
	tt, err := h.store.CreateTopic(context.Background(), name, partitions, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return tt.ID
}

func joinReq(group, member string, topics ...string) ConsumerHeartbeatRequest {
	return ConsumerHeartbeatRequest{Group: group, MemberID: member, MemberEpoch: 0, RebalanceTimeoutMillis: 30000,
		SubscribedTopicNames: topics, Owned: []TopicIDPartitions{}, ClientID: "test"}
}

func (h *harness) hb(req ConsumerHeartbeatRequest) ConsumerHeartbeatResult {
	h.t.Helper()
	return h.c.ConsumerHeartbeat(context.Background(), req)
}

func (h *harness) mustHB(req ConsumerHeartbeatRequest) ConsumerHeartbeatResult {
	h.t.Helper()
	res := h.hb(req)
	if res.Err != nil {
		h.t.Fatalf("heartbeat %+v: %v", req, res.Err)
	}
	return res
}

func wantErr(t *testing.T, err error, want *kerr.Error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %s", err, want.Message)
	}
}

func (h *harness) group(name string) *consumerGroup {
	h.t.Helper()
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	g := h.c.cgroups[name]
	if g == nil {
		h.t.Fatalf("consumer group %s not loaded", name)
	}
	return g
}
