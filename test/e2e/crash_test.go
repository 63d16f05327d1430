package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCrashLosesNothingAcknowledged kills the agent with SIGKILL while
// several producers write with acks=all, restarts it on the same data
// directory, and checks that every acknowledged record is readable exactly
// once at its acknowledged offset and that every partition's offsets are
// contiguous. Records whose acknowledgement was lost in the crash may or may
// not be there, but never twice.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	for round := 0; round < 2; round++ {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			a := StartAgent(t, "", "--batch-timeout", "15ms")
			ctx := testContext(t, 90*time.Second)
			const topic = "crash"
			a.CreateTopic(topic, 3)

			p := newProduced()
			var acked atomic.Int64
			prodCtx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			for w := 0; w < 4; w++ {
				// No retries: a retried batch whose first attempt
				// committed just before the crash would be written twice
				// (that is what idempotence, a later feature, prevents).
				cl := a.Client(kgo.DisableIdempotentWrite(), kgo.RecordRetries(0), kgo.RequestRetries(0),
					kgo.ProducerLinger(time.Millisecond), kgo.MaxBufferedRecords(200))
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					var inflight sync.WaitGroup
					for i := 0; prodCtx.Err() == nil; i++ {
						inflight.Add(1)
						cl.Produce(prodCtx, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("w%d-%07d", w, i))}, func(r *kgo.Record, err error) {
							defer inflight.Done()
							if err == nil {
								p.add(r)
								acked.Add(1)
							}
						})
					}
					inflight.Wait()
				}(w)
			}
			// Kill once a good amount has been acknowledged.
			for acked.Load() < int64(2000*(round+1)) {
				if ctx.Err() != nil {
					t.Fatalf("only %d records acknowledged before the deadline", acked.Load())
				}
				time.Sleep(10 * time.Millisecond)
			}
			a.Kill()
			stop()
			wg.Wait()
			ackedAtKill := acked.Load()

			a.Restart()
			got := a.ConsumeAll(ctx, topic)
			p.check(t, got)
			total := 0
			for _, recs := range got {
				total += len(recs)
			}
			t.Logf("acknowledged %d, read back %d after kill -9", ackedAtKill, total)
			if int64(total) < ackedAtKill {
				t.Fatalf("read %d records, fewer than the %d acknowledged", total, ackedAtKill)
			}
		})
	}
}
