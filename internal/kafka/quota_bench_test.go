package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkQuotaThrottledProducer measures the rate a producer over its
// producer_byte_rate quota achieves against the quota: one op is one
// 16 KiB record produced (acks=all, several in flight) by a client whose
// quota is 1 MiB/s, and the benchmark reports the achieved rate (B/s) and
// its ratio to the quota (quota-ratio, about 1 when throttling works; the
// first young window lets a short run exceed it). The quota window is
// shortened (100ms × 11) so the rate converges within a short run; run
// with a fixed count, e.g.
//
//	go test ./internal/kafka -run '^$' -bench QuotaThrottledProducer -benchtime 400x
func BenchmarkQuotaThrottledProducer(b *testing.B) {
	const quota = 1 << 20
	ts := startServer(b, Config{QuotaWindow: 100 * time.Millisecond, QuotaWindowSamples: 11})
	ts.createTopic("bench-quota", 1, nil)
	ctx := context.Background()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(ts.addr))
	if err != nil {
		b.Fatal(err)
	}
	defer admCl.Close()
	rs, err := kadm.NewClient(admCl).AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: kadm.StringPtr("throttled")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: quota}},
	}})
	if err != nil || rs[0].Err != nil {
		b.Fatal(rs, err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(ts.addr), kgo.ClientID("throttled"), kgo.DefaultProduceTopic("bench-quota"),
		kgo.ProducerLinger(0), kgo.MaxBufferedRecords(64),
		// The quota counts request bytes: batches of one repeated value
		// would compress to almost nothing.
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	value := randomBytes(16 << 10)
	b.SetBytes(int64(len(value)))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	rate := float64(b.N*len(value)) / elapsed.Seconds()
	b.ReportMetric(rate, "B/s")
	b.ReportMetric(rate/quota, "quota-ratio")
}
