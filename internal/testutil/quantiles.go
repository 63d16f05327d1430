package testutil

import (
	"math"
	"slices"
	"testing"
	"time"
)

// ReportLatencyQuantiles reports the p50 and p99 of took (nearest rank) as
// the benchmark metrics p50-ms and p99-ms. It sorts took.
func ReportLatencyQuantiles(b *testing.B, took []time.Duration) {
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	for _, q := range []struct {
		unit string
		q    float64
	}{{"p50-ms", 0.50}, {"p99-ms", 0.99}} {
		b.ReportMetric(float64(took[max(0, int(math.Ceil(q.q*float64(len(took))))-1)].Microseconds())/1000, q.unit)
	}
}
