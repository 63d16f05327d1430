package e2e

import (
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// throttles records the throttle times franz-go reports for a client's
// responses (its OnBrokerThrottle hook), which it reads from
// throttle_time_ms.
type throttles struct {
	mu  sync.Mutex // guards max, n
	max time.Duration
	n   int
}

func (h *throttles) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	h.max = max(h.max, d)
}

func (h *throttles) get() (time.Duration, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.max, h.n
}

// TestClientQuotaThrottlesProducer: two franz-go producers write the same
// amount; the one whose client ID has a low producer_byte_rate quota gets
// produce responses with throttle_time_ms > 0, the other none. Asserted on
// the throttle fields, not on time.
func TestClientQuotaThrottlesProducer(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "10ms")
	ctx := testContext(t, 60*time.Second)
	a.CreateTopic("quota", 1)

	rs, err := a.Admin().AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: kadm.StringPtr("noisy")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 4096}},
	}})
	if err != nil || len(rs) != 1 || rs[0].Err != nil {
		t.Fatalf("AlterClientQuotas = %+v, %v", rs, err)
	}
	qs, err := a.Admin().DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchName: kadm.StringPtr("noisy")}})
	if err != nil || len(qs) != 1 || len(qs[0].Values) != 1 || qs[0].Values[0].Value != 4096 {
		t.Fatalf("DescribeClientQuotas = %+v, %v", qs, err)
	}

	value := make([]byte, 16<<10)
	rand.Read(value) // incompressible: the request is as big as the data
	// produce writes records of value until one response is throttled or
	// n records are written, and returns the hook and the count written.
	produce := func(clientID string, n int) (*throttles, int) {
		h := &throttles{}
		cl := a.Client(kgo.ClientID(clientID), kgo.DefaultProduceTopic("quota"), kgo.WithHooks(h))
		for i := range n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
				t.Fatalf("%s: %v", clientID, err)
			}
			if _, throttled := h.get(); throttled > 0 {
				return h, i + 1
			}
		}
		return h, n
	}
	// 16 × 16 KB = 256 KB would be about 26 KB/s over Kafka's young 10s
	// window, six times the 4 KB/s quota: a throttled response comes long
	// before.
	noisy, written := produce("noisy", 16)
	if d, n := noisy.get(); d <= 0 || n == 0 {
		t.Fatalf("the client over its quota saw no throttle after %d records (max %v)", written, d)
	}
	// The same load from a client without a quota is never throttled.
	quiet, _ := produce("quiet", written)
	if d, n := quiet.get(); d != 0 || n != 0 {
		t.Fatalf("the client without a quota was throttled (max %v, %d responses)", d, n)
	}
}
