package dynconfig

import (
	"sync"
	"time"
)

// Throttler measures quota usage per bucket (Snapshot.QuotaFor) and key
// the way Kafka's client quota manager does: a rate over a window of
// Samples samples of Window each (Kafka's quota.window.num=11 and
// quota.window.size.seconds=1), where a young window counts as Samples-1
// full samples so a client's first burst is not judged over a few
// milliseconds. A client over its quota must wait
// (rate-quota)/quota × window, at most Samples × Window: the throttle time
// Kafka returns in throttle_time_ms and mutes the connection for. It is
// per agent: each agent measures only the traffic it serves.
type Throttler struct {
	window  time.Duration
	samples int

	mu    sync.Mutex // guards rates and ops
	rates map[rateKey]*rate
	ops   int // records since the last sweep of idle rates
}

type rateKey struct {
	bucket Entity
	key    string
}

// rate is a ring of samples; sample i counts the usage of window index
// idx[i] (time / window).
type rate struct {
	idx   []int64
	total []float64
	last  time.Time
}

// NewThrottler returns a throttler; zero values mean Kafka's defaults
// (1s windows, 11 samples).
func NewThrottler(window time.Duration, samples int) *Throttler {
	if window <= 0 {
		window = time.Second
	}
	if samples < 2 {
		samples = 11
	}
	return &Throttler{window: window, samples: samples, rates: map[rateKey]*rate{}}
}

// MaxThrottle is the longest throttle time Throttle returns.
func (t *Throttler) MaxThrottle() time.Duration { return time.Duration(t.samples) * t.window }

// Record adds n units (bytes) of usage by bucket on key at now and returns
// how long the client must wait for its rate to fall back to limit.
func (t *Throttler) Record(bucket Entity, key string, limit, n float64, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.rateLocked(rateKey{bucket, key}, now)
	w := now.UnixNano() / int64(t.window)
	i := int(w % int64(t.samples))
	if r.idx[i] != w {
		r.idx[i], r.total[i] = w, 0
	}
	r.total[i] += n
	return t.throttleLocked(r, limit, now)
}

// Throttle returns how long bucket must wait on key at now without
// recording usage (a fetch checks before it reads).
func (t *Throttler) Throttle(bucket Entity, key string, limit float64, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.rates[rateKey{bucket, key}]
	if !ok {
		return 0
	}
	return t.throttleLocked(r, limit, now)
}

// Rate returns bucket's measured rate on key, per second.
func (t *Throttler) Rate(bucket Entity, key string, now time.Time) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.rates[rateKey{bucket, key}]
	if !ok {
		return 0
	}
	sum, elapsed := t.measureLocked(r, now)
	return sum / elapsed.Seconds()
}

func (t *Throttler) rateLocked(k rateKey, now time.Time) *rate {
	t.ops++
	if t.ops >= 4096 {
		t.ops = 0
		for key, r := range t.rates {
			if now.Sub(r.last) > t.MaxThrottle() {
				delete(t.rates, key)
			}
		}
	}
	r, ok := t.rates[k]
	if !ok {
		r = &rate{idx: make([]int64, t.samples), total: make([]float64, t.samples)}
		for i := range r.idx {
			r.idx[i] = -1
		}
		t.rates[k] = r
	}
	r.last = now
	return r
}

// measureLocked sums the samples still in the window and the time they
// span, at least Samples-1 windows.
func (t *Throttler) measureLocked(r *rate, now time.Time) (float64, time.Duration) {
	w := now.UnixNano() / int64(t.window)
	oldest := w
	sum := 0.0
	for i, idx := range r.idx {
		if idx > w-int64(t.samples) && idx <= w {
			sum += r.total[i]
			oldest = min(oldest, idx)
		}
	}
	elapsed := now.Sub(time.Unix(0, oldest*int64(t.window)))
	if full := time.Duration(w-oldest) * t.window; full < time.Duration(t.samples-1)*t.window {
		elapsed += time.Duration(t.samples-1)*t.window - full
	}
	return sum, elapsed
}

func (t *Throttler) throttleLocked(r *rate, limit float64, now time.Time) time.Duration {
	if limit <= 0 {
		return 0
	}
	sum, elapsed := t.measureLocked(r, now)
	observed := sum / elapsed.Seconds()
	if observed <= limit {
		return 0
	}
	d := time.Duration((observed - limit) / limit * float64(elapsed))
	return min(d, t.MaxThrottle())
}
