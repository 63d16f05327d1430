package e2e

// Topic timestamp configs through real clients: message.timestamp.type=
// LogAppendTime as franz-go, kcat, confluent-kafka (librdkafka) and
// kafka-python consumers see it, and message.timestamp.before/after.max.ms
// refusing records through franz-go, confluent-kafka and kafka-python
// producers (py/timestamps.py).

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// tsLine is one line py/timestamps.py prints.
type tsLine struct {
	I      int    `json:"i"`
	Error  *int16 `json:"error"`
	Offset int64  `json:"offset"`
	Value  string `json:"value"`
	Type   *int   `json:"type"`
	TS     *int64 `json:"ts"`
}

// Timestamp types as py/timestamps.py reports them (librdkafka's numbering).
const (
	tsCreateTime    = 1
	tsLogAppendTime = 2
)

func tsScript(t *testing.T, client, mode string, req map[string]any) []tsLine {
	t.Helper()
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cliRun(testContext(t, 60*time.Second), in, cliPython, "py/timestamps.py", client, mode)
	if err != nil {
		t.Fatal(err)
	}
	var lines []tsLine
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" {
			continue
		}
		var line tsLine
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("py/timestamps.py %s %s printed %q: %v", client, mode, l, err)
		}
		lines = append(lines, line)
	}
	return lines
}

func createTopicWith(t *testing.T, a *Agent, topic string, configs map[string]*string) {
	t.Helper()
	res, err := a.Admin().CreateTopic(testContext(t, 30*time.Second), 1, 1, configs, topic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

func strp(s string) *string { return &s }

// TestLogAppendTimeClients: on a LogAppendTime topic, records produced by
// franz-go, confluent-kafka and kafka-python with old CreateTime
// timestamps are read back by franz-go, kcat, confluent-kafka and
// kafka-python with the agent's append time and the LogAppendTime type;
// the producers that report it (librdkafka, kafka-python) get the same
// append time in their produce acknowledgement.
func TestLogAppendTimeClients(t *testing.T) {
	t.Parallel()
	cliRequirePython(t, "import confluent_kafka, kafka")
	cliRequireKcat(t)
	a := StartAgent(t, "")
	ctx := testContext(t, 120*time.Second)
	createTopicWith(t, a, "lat", map[string]*string{"message.timestamp.type": strp("LogAppendTime")})
	const old = 1_000_000_000_000 // 2001

	before := time.Now().UnixMilli()
	cl := a.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := 0; i < 3; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "lat", Value: []byte("franz" + strconv.Itoa(i)), Timestamp: time.UnixMilli(old + int64(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	acked := map[int64]int64{} // offset → append time the producer was told
	for _, client := range []string{"confluent", "kafka-python"} {
		for _, l := range tsScript(t, client, "produce", map[string]any{"bootstrap": a.KafkaAddr, "topic": "lat", "timestamps": []int64{old, old + 1}}) {
			if l.Error != nil || l.TS == nil {
				t.Fatalf("%s produce: %+v", client, l)
			}
			if client == "confluent" && (l.Type == nil || *l.Type != tsLogAppendTime) {
				t.Fatalf("confluent delivery report: timestamp type %v, want LogAppendTime", l.Type)
			}
			acked[l.Offset] = *l.TS
		}
	}
	after := time.Now().UnixMilli()
	if len(acked) != 4 {
		t.Fatalf("python producers acknowledged offsets %v", acked)
	}

	// franz-go: every record carries the append time, typed LogAppendTime.
	recs := a.ConsumeAll(ctx, "lat")[0]
	if len(recs) != 7 {
		t.Fatalf("read %d records, want 7", len(recs))
	}
	appendTimes := map[int64]int64{}
	for _, r := range recs {
		ts := r.Timestamp.UnixMilli()
		if r.Attrs.TimestampType() != 1 || ts < before || ts > after {
			t.Fatalf("franz-go read offset %d: type %d, timestamp %d; want LogAppendTime in [%d, %d]", r.Offset, r.Attrs.TimestampType(), ts, before, after)
		}
		if want, ok := acked[r.Offset]; ok && want != ts {
			t.Fatalf("offset %d: producer was acknowledged with %d, consumer sees %d", r.Offset, want, ts)
		}
		appendTimes[r.Offset] = ts
	}

	// The other consumers see the same types and times.
	for _, client := range []string{"confluent", "kafka-python"} {
		lines := tsScript(t, client, "consume", map[string]any{"bootstrap": a.KafkaAddr, "topic": "lat", "count": 7})
		if len(lines) != 7 {
			t.Fatalf("%s read %d records", client, len(lines))
		}
		for _, l := range lines {
			if l.Type == nil || *l.Type != tsLogAppendTime || l.TS == nil || *l.TS != appendTimes[l.Offset] {
				t.Fatalf("%s read offset %d: type %v, timestamp %v; want LogAppendTime %d", client, l.Offset, deref(l.Type), deref(l.TS), appendTimes[l.Offset])
			}
		}
	}
	out, err := cliRun(ctx, nil, "kcat", "-b", a.KafkaAddr, "-C", "-t", "lat", "-p", "0", "-o", "beginning", "-e", "-q", "-J")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var m struct {
			Offset int64  `json:"offset"`
			TSType string `json:"tstype"`
			TS     int64  `json:"ts"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("kcat printed %q: %v", l, err)
		}
		if m.TSType != "logappend" || m.TS != appendTimes[m.Offset] {
			t.Fatalf("kcat read offset %d: %s %d; want logappend %d", m.Offset, m.TSType, m.TS, appendTimes[m.Offset])
		}
		n++
	}
	if n != 7 {
		t.Fatalf("kcat read %d records", n)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestTimestampWindowClients: on a CreateTime topic with a one-hour window
// either side, records two hours old or ahead are refused with
// INVALID_TIMESTAMP through franz-go, confluent-kafka and kafka-python, and
// only the records inside the window are stored.
func TestTimestampWindowClients(t *testing.T) {
	t.Parallel()
	cliRequirePython(t, "import confluent_kafka, kafka")
	a := StartAgent(t, "")
	ctx := testContext(t, 120*time.Second)
	createTopicWith(t, a, "win", map[string]*string{
		"message.timestamp.before.max.ms": strp("3600000"),
		"message.timestamp.after.max.ms":  strp("3600000"),
	})
	now := time.Now().UnixMilli()
	const twoHours = 2 * 3600_000

	// Non-idempotent, so a refused batch does not leave a sequence gap.
	cl := a.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DisableIdempotentWrite())
	for _, ts := range []int64{now - twoHours, now + twoHours} {
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: "win", Value: []byte("bad"), Timestamp: time.UnixMilli(ts)}).FirstErr()
		if !errors.Is(err, kerr.InvalidTimestamp) {
			t.Fatalf("franz-go record at %d (now %d): %v, want INVALID_TIMESTAMP", ts, now, err)
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "win", Value: []byte("good"), Timestamp: time.UnixMilli(now)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, client := range []string{"confluent", "kafka-python"} {
		lines := tsScript(t, client, "produce", map[string]any{"bootstrap": a.KafkaAddr, "topic": "win",
			"timestamps": []int64{now - twoHours, now, now + twoHours}})
		if len(lines) != 3 {
			t.Fatalf("%s: %+v", client, lines)
		}
		for _, l := range lines {
			want := kerr.InvalidTimestamp.Code
			if l.I == 1 {
				if l.Error != nil {
					t.Fatalf("%s: record inside the window: error %d", client, *l.Error)
				}
				continue
			}
			if l.Error == nil || *l.Error != want {
				t.Fatalf("%s: record %d outside the window: error %v, want %d", client, l.I, deref(l.Error), want)
			}
		}
	}
	recs := a.ConsumeAll(ctx, "win")[0]
	if len(recs) != 3 {
		t.Fatalf("stored %d records, want the 3 inside the window", len(recs))
	}
	for _, r := range recs {
		if ts := r.Timestamp.UnixMilli(); r.Attrs.TimestampType() != 0 || ts < now-3600_000 || ts > now+3600_000 {
			t.Fatalf("stored record at offset %d: type %d, timestamp %d", r.Offset, r.Attrs.TimestampType(), ts)
		}
	}
}
