package kafka

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/fetch"
	"github.com/sluicehq/sluice/internal/groups"
	"github.com/sluicehq/sluice/internal/metadata/sqlite"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/produce"
	"github.com/sluicehq/sluice/internal/topics"
	"github.com/sluicehq/sluice/internal/txn"
)

// FuzzDispatch feeds decoded requests of every API to their handlers, over
// a real SQLite store and an in-memory bucket, with the topic the samples
// name present: a handler must answer any request it can decode, never
// panic, and give a response that encodes. Slow requests (long polls,
// joins) are bounded by a short context.
func FuzzDispatch(f *testing.F) {
	keys := make([]int16, 0, len(supported))
	for k := range supported {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		r := supported[k]
		for _, v := range []int16{r.min, (r.min + r.max) / 2, r.max} {
			f.Add(requestBody(sampleRequest(k, v), int32(v)))
		}
	}

	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "metadata.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer store.Close()
	bucket, err := objstore.Open(ctx, "mem://")
	if err != nil {
		f.Fatal(err)
	}
	defer bucket.Close()
	notifier := fetch.NewNotifier()
	batcher := produce.New(produce.Config{BatchTimeout: time.Millisecond}, store, bucket, notifier.Notify, nil, discardLogger())
	defer batcher.Close(ctx)
	reader := fetch.NewReader(store, bucket, nil)
	members := cluster.Single{Broker: cluster.Broker{NodeID: 1, Host: "127.0.0.1", Port: 9092}}
	owners := soleOwner{members}
	coordinator := groups.New(groups.Config{}, store, owners, nil, discardLogger())
	defer coordinator.Close()
	cache := topics.NewCache(store, time.Second)
	if _, err := cache.CreateTopic(ctx, "topic", 2, nil); err != nil {
		f.Fatal(err)
	}
	s := NewServer(Config{MaxPartitions: 64}, Deps{
		Topics: cache, Log: store, Records: store, Producer: batcher, Reader: reader,
		Groups: coordinator, Txn: txn.New(txn.Config{}, store, batcher, owners, nil, discardLogger()),
		Transactions: store, Notifier: notifier, Membership: members, ClusterID: "fuzz", Logger: discardLogger(),
	})

	f.Fuzz(func(t *testing.T, body []byte) {
		req, early, err := s.decode(body)
		if err != nil || early != nil {
			return
		}
		req.received, req.remote, req.source = time.Now(), "127.0.0.1:1", produce.NewSource()
		defer s.producer.Forget(req.source)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		r := s.dispatch(ctx, req)
		if r.wait != nil {
			r.resp = r.wait()
		}
		if r.none {
			return
		}
		if r.resp == nil {
			t.Fatalf("%s v%d: no response", kmsg.NameForKey(req.key), req.version)
		}
		out, _ := appendResponse(nil, req, r.resp, nil)
		resp := req.msg.ResponseKind()
		resp.SetVersion(req.version)
		hdr := 4 + 4
		if resp.IsFlexible() && req.key != apiVersionsKey {
			hdr++
		}
		if err := resp.ReadFrom(out[hdr:]); err != nil {
			t.Fatalf("%s v%d: response does not decode: %v", kmsg.NameForKey(req.key), req.version, err)
		}
	})
}
