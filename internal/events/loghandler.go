package events

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// LogConfig configures the agent-log tee.
type LogConfig struct {
	// Level is the lowest level turned into events (default warn).
	Level slog.Level
	// Rate is how many records per second may become events on average
	// and Burst how many at once; beyond them records are only counted
	// (the next event that is written reports them as suppressed).
	// 0 means 20 per second, bursts of 100.
	Rate  float64
	Burst float64
}

// LogHandler is a slog.Handler that passes every record to the handler it
// wraps and also turns records at or above its level into TypeAgentLog
// events, rate-limited. It never blocks: Emit does not.
type LogHandler struct {
	inner slog.Handler
	sink  *logSink
	attrs []slog.Attr // WithAttrs' attributes, keys qualified by groups
	group string      // WithGroup's groups, dot-terminated
}

// logSink is what every handler derived from one NewLogHandler shares.
type logSink struct {
	em      Emitter
	level   slog.Level
	metrics *Metrics

	mu         sync.Mutex // guards the fields below
	rate       float64
	burst      float64
	tokens     float64
	last       time.Time
	suppressed int64
}

// NewLogHandler wraps inner; m may be nil.
func NewLogHandler(inner slog.Handler, em Emitter, cfg LogConfig, m *Metrics) *LogHandler {
	if cfg.Rate <= 0 {
		cfg.Rate = 20
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 100
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &LogHandler{inner: inner, sink: &logSink{em: em, level: cfg.Level, metrics: m,
		rate: cfg.Rate, burst: cfg.Burst, tokens: cfg.Burst, last: time.Now()}}
}

// Enabled reports whether the wrapped handler or the tee wants level l.
func (h *LogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.sink.level || h.inner.Enabled(ctx, l)
}

// Handle passes r on and, at or above the level, emits it.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.inner.Enabled(ctx, r.Level) {
		err = h.inner.Handle(ctx, r)
	}
	if r.Level >= h.sink.level {
		h.emit(ctx, r)
	}
	return err
}

func (h *LogHandler) emit(ctx context.Context, r slog.Record) {
	s := h.sink
	s.mu.Lock()
	now := time.Now()
	s.tokens = min(s.burst, s.tokens+now.Sub(s.last).Seconds()*s.rate)
	s.last = now
	if s.tokens < 1 {
		s.suppressed++
		s.mu.Unlock()
		s.metrics.logs.WithLabelValues().Inc()
		return
	}
	s.tokens--
	suppressed := s.suppressed
	s.suppressed = 0
	s.mu.Unlock()

	attrs := make(map[string]any, len(h.attrs)+r.NumAttrs())
	for _, a := range h.attrs {
		addAttr(attrs, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		addAttr(attrs, h.group, a)
		return true
	})
	msg := r.Message
	if len(msg) > 4096 {
		msg = msg[:4096]
	}
	subject, _ := attrs["component"].(string)
	s.em.Emit(ctx, Event{Type: TypeAgentLog, Time: r.Time, Subject: subject, Data: LogData{
		LogLevel: strings.ToLower(r.Level.String()), Message: msg, Attrs: attrs, Suppressed: suppressed,
	}})
}

// addAttr flattens a into m under prefix (groups become dotted keys).
func addAttr(m map[string]any, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			addAttr(m, p, g)
		}
		return
	}
	if a.Key == "" {
		return
	}
	var x any
	switch v.Kind() {
	case slog.KindString:
		x = v.String()
	case slog.KindInt64:
		x = v.Int64()
	case slog.KindUint64:
		x = v.Uint64()
	case slog.KindFloat64:
		x = v.Float64()
	case slog.KindBool:
		x = v.Bool()
	case slog.KindDuration:
		x = v.Duration().String()
	case slog.KindTime:
		x = v.Time().UTC().Format(time.RFC3339Nano)
	default:
		if err, ok := v.Any().(error); ok {
			x = err.Error()
		} else {
			x = v.String()
		}
	}
	if s, ok := x.(string); ok && len(s) > 1024 {
		x = s[:1024]
	}
	m[prefix+a.Key] = x
}

// WithAttrs returns a handler with attrs added to every record.
func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.inner = h.inner.WithAttrs(attrs)
	n.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range attrs {
		if h.group != "" {
			a = slog.Attr{Key: strings.TrimSuffix(h.group, ".") + "." + a.Key, Value: a.Value}
		}
		n.attrs = append(n.attrs, a)
	}
	return &n
}

// WithGroup returns a handler whose later attributes are under name.
func (h *LogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.inner = h.inner.WithGroup(name)
	n.group = h.group + name + "."
	return &n
}
