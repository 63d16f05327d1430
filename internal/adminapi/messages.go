package adminapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/records"
)

// Message formats: how keys, header values and values are rendered.
const (
	FormatAuto = "auto" // json if it parses, else text if UTF-8, else hex
	FormatText = "text"
	FormatJSON = "json" // indented; text when it does not parse
	FormatHex  = "hex"
)

// Data is a key, value or header value as rendered.
type Data struct {
	// Format is how Text renders the bytes: text, json or hex. Null bytes
	// (a null key) have Null set.
	Format string `json:"format"`
	Text   string `json:"text"`
	Null   bool   `json:"null,omitempty"`
	Size   int    `json:"size"`
	// SchemaID and SchemaType name the registry schema a value in the
	// Confluent wire format (magic byte 0, schema ID) was decoded with;
	// Text is then the payload as the schema reads it (JSON), or the
	// payload after the 5-byte header in hex (Protobuf).
	SchemaID   int64  `json:"schema_id,omitempty"`
	SchemaType string `json:"schema_type,omitempty"`
}

// MessageHeader is one record header.
type MessageHeader struct {
	Key   string `json:"key"`
	Value Data   `json:"value"`
}

// Message is one record.
type Message struct {
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
	Timestamp time.Time       `json:"timestamp"`
	Key       Data            `json:"key"`
	Value     Data            `json:"value"`
	Headers   []MessageHeader `json:"headers"`
}

// Messages is the answer of GET /api/v1/topics/{name}/messages.
type Messages struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// StartOffset is where reading began; NextOffset is where the next
	// page begins.
	StartOffset    int64     `json:"start_offset"`
	NextOffset     int64     `json:"next_offset"`
	LogStartOffset int64     `json:"log_start_offset"`
	HighWatermark  int64     `json:"high_watermark"`
	Messages       []Message `json:"messages"`
}

// BrowseQuery selects messages of one partition.
type BrowseQuery struct {
	Partition int32
	// Offset, if not nil, is the first offset; else Timestamp (Unix ms),
	// if not nil, picks the first message at or after it; else the last
	// Limit messages are shown.
	Offset    *int64
	Timestamp *int64
	Limit     int
	Format    string
}

// Browse limits.
const (
	DefaultMessages = 20
	MaxMessages     = 500
)

func parseBrowse(r *http.Request) (BrowseQuery, error) {
	v := r.URL.Query()
	q := BrowseQuery{Limit: DefaultMessages, Format: FormatAuto}
	if s := v.Get("partition"); s != "" {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || n < 0 {
			return q, badRequest("partition must be a non-negative integer, got %q", s)
		}
		q.Partition = int32(n)
	}
	if s := v.Get("offset"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return q, badRequest("offset must be a non-negative integer, got %q", s)
		}
		q.Offset = &n
	}
	if s := v.Get("timestamp"); s != "" {
		if q.Offset != nil {
			return q, badRequest("give offset or timestamp, not both")
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t, terr := time.Parse(time.RFC3339, s)
			if terr != nil {
				return q, badRequest("timestamp must be Unix milliseconds or RFC 3339, got %q", s)
			}
			n = t.UnixMilli()
		}
		if n < 0 {
			return q, badRequest("timestamp must not be negative, got %q", s)
		}
		q.Timestamp = &n
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxMessages {
			return q, badRequest("limit must be an integer from 1 to %d, got %q", MaxMessages, s)
		}
		q.Limit = n
	}
	if s := v.Get("format"); s != "" {
		switch s {
		case FormatAuto, FormatText, FormatJSON, FormatHex:
			q.Format = s
		default:
			return q, badRequest("format must be auto, text, json or hex, got %q", s)
		}
	}
	return q, nil
}

// Browse reads messages of one partition through the Kafka Fetch path
// (read_uncommitted; transaction markers are skipped).
func (a *API) Browse(ctx context.Context, p auth.Principal, topic string, q BrowseQuery) (Messages, error) {
	t, err := a.topicByName(ctx, topic)
	if err != nil {
		return Messages{}, err
	}
	if q.Partition >= t.Partitions {
		return Messages{}, &Error{Status: http.StatusNotFound, Code: "UNKNOWN_TOPIC_OR_PARTITION", Message: "topic " + topic + " has " + strconv.Itoa(int(t.Partitions)) + " partitions; there is no partition " + strconv.Itoa(int(q.Partition))}
	}
	if q.Limit <= 0 {
		q.Limit = DefaultMessages
	}
	st, err := a.cfg.Store.PartitionState(ctx, t.ID, q.Partition)
	if err != nil {
		return Messages{}, storeError(err, topic)
	}
	out := Messages{Topic: topic, Partition: q.Partition, LogStartOffset: st.LogStartOffset, HighWatermark: st.HighWatermark, Messages: []Message{}}
	var start int64
	switch {
	case q.Offset != nil:
		start = max(*q.Offset, st.LogStartOffset)
	case q.Timestamp != nil:
		if start, err = a.offsetForTime(ctx, p, topic, q.Partition, *q.Timestamp); err != nil {
			return Messages{}, err
		}
		if start < 0 {
			start = st.HighWatermark
		}
	default:
		start = max(st.HighWatermark-int64(q.Limit), st.LogStartOffset)
	}
	out.StartOffset, out.NextOffset = start, start
	// Values in the Confluent wire format are decoded through the schema
	// registry when the format is auto.
	value := func(b []byte) Data { return render(b, q.Format) }
	// Only for a principal the registry lets in (as the schema pages).
	if q.Format == FormatAuto && a.cfg.Schemas != nil && a.schemaAllowed(ctx, p) == nil {
		wd := &wireDecoder{reg: a.cfg.Schemas, cache: map[int64]*wireSchema{}}
		value = func(b []byte) Data {
			if d, ok := wd.decode(ctx, b); ok {
				return d
			}
			return render(b, q.Format)
		}
	}
	for round := 0; round < 16 && len(out.Messages) < q.Limit && out.NextOffset < out.HighWatermark; round++ {
		batches, hw, err := a.fetch(ctx, p, topic, q.Partition, out.NextOffset)
		if err != nil {
			return Messages{}, err
		}
		out.HighWatermark = max(out.HighWatermark, hw)
		before := out.NextOffset
		if err := decodeBatches(batches, q, &out, value); err != nil {
			return Messages{}, err
		}
		if out.NextOffset == before {
			break
		}
	}
	return out, nil
}

// offsetForTime asks ListOffsets for the first offset at or after ts (-1
// when there is none).
func (a *API) offsetForTime(ctx context.Context, p auth.Principal, topic string, partition int32, ts int64) (int64, error) {
	got, err := a.listOffsets(ctx, p, map[string][]int32{topic: {partition}}, ts)
	if err != nil {
		return 0, err
	}
	return got[tp{topic, partition}], nil
}

type tp struct {
	topic     string
	partition int32
}

// listOffsets runs one ListOffsets request (ts: -2 earliest, -1 latest, or
// a time) for the given partitions.
func (a *API) listOffsets(ctx context.Context, p auth.Principal, parts map[string][]int32, ts int64) (map[tp]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	for topic, ps := range parts {
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for _, part := range ps {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = part, ts, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := a.do(ctx, p, 6, req)
	if err != nil {
		return nil, err
	}
	out := map[tp]int64{}
	for _, rt := range resp.(*kmsg.ListOffsetsResponse).Topics {
		for _, rp := range rt.Partitions {
			if err := kafkaError(rp.ErrorCode, nil); err != nil {
				return nil, err
			}
			out[tp{rt.Topic, rp.Partition}] = rp.Offset
		}
	}
	return out, nil
}

// fetch reads one partition from offset without waiting.
func (a *API) fetch(ctx context.Context, p auth.Principal, topic string, partition int32, offset int64) ([]byte, int64, error) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = 4 << 20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LastFetchedEpoch = partition, offset, 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := a.do(ctx, p, 12, req)
	if err != nil {
		return nil, 0, err
	}
	r := resp.(*kmsg.FetchResponse)
	if err := kafkaError(r.ErrorCode, nil); err != nil {
		return nil, 0, err
	}
	for _, t := range r.Topics {
		for _, rp := range t.Partitions {
			if err := kafkaError(rp.ErrorCode, nil); err != nil {
				return nil, 0, err
			}
			return rp.RecordBatches, rp.HighWatermark, nil
		}
	}
	return nil, 0, errors.New("fetch answered no partition")
}

// decodeBatches appends the records of batches at or after out.NextOffset
// to out, up to q.Limit, and moves NextOffset past what it consumed;
// value renders record values.
func decodeBatches(batches []byte, q BrowseQuery, out *Messages, value func([]byte) Data) error {
	for len(batches) > 0 && len(out.Messages) < q.Limit {
		batch, rest, err := records.Next(batches)
		if err != nil {
			return nil // a partial batch at the end of a fetch
		}
		batches = rest
		h, err := records.ReadHeader(batch)
		if err != nil {
			return err
		}
		last := h.BaseOffset + int64(h.LastOffsetDelta)
		if last < out.NextOffset {
			continue
		}
		if h.Attributes&records.AttrControl != 0 {
			out.NextOffset = last + 1
			continue
		}
		section, err := records.Section(batch, records.MaxDecompressedBatch)
		if err != nil {
			return err
		}
		it := records.NewRecordIter(section)
		for it.Next() {
			var rec kmsg.Record
			if err := rec.ReadFrom(it.Record()); err != nil {
				return err
			}
			off := h.BaseOffset + int64(rec.OffsetDelta)
			if off < out.NextOffset {
				continue
			}
			if len(out.Messages) == q.Limit {
				return nil
			}
			ts := h.FirstTimestamp + rec.TimestampDelta64
			if h.Attributes&records.AttrLogAppendTime != 0 {
				ts = h.MaxTimestamp
			}
			m := Message{Partition: q.Partition, Offset: off, Timestamp: time.UnixMilli(ts).UTC(),
				Key: render(rec.Key, q.Format), Value: value(rec.Value), Headers: []MessageHeader{}}
			for _, hd := range rec.Headers {
				m.Headers = append(m.Headers, MessageHeader{Key: hd.Key, Value: render(hd.Value, q.Format)})
			}
			out.Messages = append(out.Messages, m)
			out.NextOffset = off + 1
		}
		if err := it.Err(); err != nil {
			return err
		}
		out.NextOffset = max(out.NextOffset, last+1)
	}
	return nil
}

// render shows bytes in the asked format; auto picks JSON, then text, then
// hex.
func render(b []byte, format string) Data {
	if b == nil {
		return Data{Format: FormatText, Null: true}
	}
	d := Data{Size: len(b)}
	switch format {
	case FormatHex:
		d.Format, d.Text = FormatHex, hex.EncodeToString(b)
		return d
	case FormatText:
		d.Format, d.Text = FormatText, string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
		return d
	}
	if len(b) > 0 && (b[0] == '{' || b[0] == '[' || format == FormatJSON) && json.Valid(b) {
		var buf bytes.Buffer
		if json.Indent(&buf, b, "", "  ") == nil {
			d.Format, d.Text = FormatJSON, buf.String()
			return d
		}
	}
	if utf8.Valid(b) {
		d.Format, d.Text = FormatText, string(b)
		return d
	}
	d.Format, d.Text = FormatHex, hex.EncodeToString(b)
	return d
}

// ProduceHeader is one header of a produced message.
type ProduceHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ProduceRequest is the body of POST /api/v1/topics/{name}/messages.
type ProduceRequest struct {
	Partition int32 `json:"partition"`
	// Key is absent or null for a null key.
	Key     *string         `json:"key"`
	Value   *string         `json:"value"`
	Headers []ProduceHeader `json:"headers,omitempty"`
	// Encoding of key, value and header values: "text" (default) or
	// "base64".
	Encoding string `json:"encoding,omitempty"`
}

// Produced is the answer of a produce.
type Produced struct {
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Timestamp time.Time `json:"timestamp"`
}

// Produce writes one message with a Produce request (acks=all): it is
// validated, batched, made durable and sequenced as a client's would be.
func (a *API) Produce(ctx context.Context, p auth.Principal, topic string, in ProduceRequest) (Produced, error) {
	decode := func(s *string, what string) ([]byte, error) {
		if s == nil {
			return nil, nil
		}
		switch in.Encoding {
		case "", "text":
			return []byte(*s), nil
		case "base64":
			b, err := base64.StdEncoding.DecodeString(*s)
			if err != nil {
				return nil, badRequest("%s is not valid base64: %v", what, err)
			}
			return b, nil
		}
		return nil, badRequest("encoding must be text or base64, got %q", in.Encoding)
	}
	if in.Partition < 0 {
		return Produced{}, badRequest("partition must not be negative, got %d", in.Partition)
	}
	key, err := decode(in.Key, "key")
	if err != nil {
		return Produced{}, err
	}
	value, err := decode(in.Value, "value")
	if err != nil {
		return Produced{}, err
	}
	rec := kmsg.Record{Key: key, Value: value}
	for _, h := range in.Headers {
		v, err := decode(&h.Value, "header "+h.Key)
		if err != nil {
			return Produced{}, err
		}
		rec.Headers = append(rec.Headers, kmsg.Header{Key: h.Key, Value: v})
	}
	now := time.Now().UnixMilli()
	body := rec.AppendTo(nil)
	rec.Length = int32(len(body) - 1) // the zero length took one byte
	body = rec.AppendTo(nil)
	batch := kmsg.RecordBatch{Magic: 2, FirstTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: 1, Records: body, PartitionLeaderEpoch: -1}
	raw := batch.AppendTo(nil)
	batch.Length = int32(len(raw) - 12)
	raw = batch.AppendTo(nil)
	records.SetCRC(raw)

	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = in.Partition, raw
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := a.do(ctx, p, 9, req)
	if err != nil {
		return Produced{}, err
	}
	for _, t := range resp.(*kmsg.ProduceResponse).Topics {
		for _, pr := range t.Partitions {
			if err := kafkaError(pr.ErrorCode, pr.ErrorMessage); err != nil {
				return Produced{}, err
			}
			ts := now
			if pr.LogAppendTime > 0 {
				ts = pr.LogAppendTime
			}
			return Produced{Topic: topic, Partition: in.Partition, Offset: pr.BaseOffset, Timestamp: time.UnixMilli(ts).UTC()}, nil
		}
	}
	return Produced{}, errors.New("produce answered no partition")
}

func (a *API) serveMessages(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q, err := parseBrowse(r)
	if err != nil {
		return err
	}
	m, err := a.Browse(r.Context(), p, r.PathValue("name"), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

func (a *API) serveProduce(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in ProduceRequest
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	got, err := a.Produce(r.Context(), p, r.PathValue("name"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, got)
	return nil
}
