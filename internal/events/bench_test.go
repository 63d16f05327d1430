package events_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/events"
	"github.com/sluicehq/sluice/internal/produce"
	"github.com/sluicehq/sluice/internal/records"
)

// userBatch is a 10-record batch of 100-byte values.
func userBatch() ([]byte, records.BatchInfo) {
	ts := time.Now().UnixMilli()
	var recs []byte
	for i := range 10 {
		r := kmsg.Record{OffsetDelta: int32(i), Value: make([]byte, 100)}
		body := r.AppendTo(nil)[1:]
		recs = kbin.AppendVarint(recs, int32(len(body)))
		recs = append(recs, body...)
	}
	b := kmsg.RecordBatch{Length: int32(49 + len(recs)), PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: 9,
		FirstTimestamp: ts, MaxTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 10, Records: recs}
	raw := b.AppendTo(nil)
	records.SetCRC(raw)
	return raw, records.BatchInfo{Records: 10, MinTimestamp: ts, MaxTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, LastSequence: -1}
}

// BenchmarkProduceUnderEventStorm measures the latency of a user topic's
// produce (Submit and wait for the commit, as a produce request with acks
// does) through the same write path, without and with an event storm: a
// goroutine logging 10,000 warnings a second through the agent-log tee
// (rate-limited to 20 events a second) and another emitting 100,000
// audit events a second (most dropped at the full buffer).
// Compare p50_us and p99_us of quiet and storm: the storm's events share
// files with the user's batches but never wait in front of them.
//
//	go test -run '^$' -bench ProduceUnderEventStorm -benchtime 2000x ./internal/events/
func BenchmarkProduceUnderEventStorm(b *testing.B) {
	for _, storm := range []bool{false, true} {
		name := "quiet"
		if storm {
			name = "storm"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			e := newEnv(b, 2*time.Millisecond)
			topic, err := e.store.CreateTopic(ctx, "user", 1, nil)
			if err != nil {
				b.Fatal(err)
			}
			m := events.NewMetrics(nil)
			w := events.NewWriter(events.Config{Source: "sluice://bench/node-1", Linger: 50 * time.Millisecond}, e.store, m, nil)
			w.Start(e.batcher)
			defer w.Close(ctx)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			if storm {
				log := slog.New(events.NewLogHandler(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}), w, events.LogConfig{Level: slog.LevelWarn}, m))
				// 10,000 warnings a second through the tee (rate-limited
				// to 20 events a second) and 100,000 audit events a
				// second (bursts of 100 every millisecond), far more
				// than the buffer drains: most are dropped.
				wg.Add(2)
				go func() {
					defer wg.Done()
					t := time.NewTicker(time.Millisecond)
					defer t.Stop()
					for {
						select {
						case <-stop:
							return
						case <-t.C:
						}
						for range 10 {
							log.Warn("fetch failed", "topic", "orders", "partition", 3, "err", io.ErrUnexpectedEOF)
						}
					}
				}()
				go func() {
					defer wg.Done()
					t := time.NewTicker(time.Millisecond)
					defer t.Stop()
					for {
						select {
						case <-stop:
							return
						case <-t.C:
						}
						for range 100 {
							w.Emit(ctx, events.Event{Type: events.TypeTopicConfigAltered, Subject: "orders",
								Data: events.AdminData{Method: "kafka.IncrementalAlterConfigs", Principal: "User:bench", Resource: "orders", Status: "SUCCESS"}})
						}
					}
				}()
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				data, info := userBatch()
				start := time.Now()
				p, err := e.batcher.Submit(ctx, []produce.Batch{{Topic: topic.ID, Partition: 0, Data: data, Info: info}})
				if err != nil {
					b.Fatal(err)
				}
				res, err := p.Wait(ctx)
				if err != nil || res[0].Err != nil {
					b.Fatal(err, res)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50_us")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99_us")
			b.ReportMetric(float64(m.Dropped()), "events_dropped")
		})
	}
}
