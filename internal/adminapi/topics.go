package adminapi

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/topics"
)

// TopicSummary is one topic of a list.
type TopicSummary struct {
	Name       string    `json:"name"`
	ID         string    `json:"id"`
	Partitions int32     `json:"partitions"`
	Configs    int       `json:"configs_set"`
	CreatedAt  time.Time `json:"created_at"`
	// Bytes is what the topic's data occupies in the bucket.
	Bytes int64 `json:"bytes"`
	// ProduceBytesPerSec and FetchBytesPerSec are the topic's throughput
	// over the last 5 minutes, merged over every agent that answered (as
	// the metrics summary merges).
	ProduceBytesPerSec float64 `json:"produce_bytes_per_sec"`
	FetchBytesPerSec   float64 `json:"fetch_bytes_per_sec"`
}

// TopicPage is one page of GET /api/v1/topics.
type TopicPage struct {
	Topics []TopicSummary `json:"topics"`
	// Total counts the topics matching the search, over every page.
	Total int `json:"total"`
	// NextPageToken, when set, is the page_token of the next page.
	NextPageToken string `json:"next_page_token,omitempty"`
}

// Page limits.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// ListQuery is a searched, paged listing request.
type ListQuery struct {
	// Q keeps names containing it (case-insensitive).
	Q string
	// PageToken continues after a previous page (its NextPageToken).
	PageToken string
	Limit     int
}

// parseListQuery reads ?q=&page_token=&limit=.
func parseListQuery(r *http.Request) (ListQuery, error) {
	q := ListQuery{Q: r.URL.Query().Get("q"), PageToken: r.URL.Query().Get("page_token"), Limit: DefaultLimit}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return q, badRequest("limit must be an integer from 1 to %d, got %q", MaxLimit, s)
		}
		q.Limit = n
	}
	return q, nil
}

// pageAfter decodes a page token into the name the page starts after.
func pageAfter(token string) (string, error) {
	if token == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", badRequest("invalid page_token")
	}
	return string(b), nil
}

func pageToken(after string) string { return base64.RawURLEncoding.EncodeToString([]byte(after)) }

// page selects, from names sorted ascending, those matching q after the
// token, and returns their indexes, the total matching and the next token.
func page(n int, name func(int) string, q ListQuery) (idx []int, total int, next string, err error) {
	after, err := pageAfter(q.PageToken)
	if err != nil {
		return nil, 0, "", err
	}
	needle := strings.ToLower(q.Q)
	for i := 0; i < n; i++ {
		nm := name(i)
		if needle != "" && !strings.Contains(strings.ToLower(nm), needle) {
			continue
		}
		total++
		if after != "" && nm <= after {
			continue
		}
		if len(idx) == q.Limit {
			next = pageToken(name(idx[len(idx)-1]))
			continue
		}
		idx = append(idx, i)
	}
	return idx, total, next, nil
}

// Topics returns one page of topics, searched and paged on the server.
func (a *API) Topics(ctx context.Context, q ListQuery) (TopicPage, error) {
	all, err := a.cfg.Store.ListTopics(ctx)
	if err != nil {
		return TopicPage{}, err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	idx, total, next, err := page(len(all), func(i int) string { return all[i].Name }, q)
	if err != nil {
		return TopicPage{}, err
	}
	p := TopicPage{Topics: []TopicSummary{}, Total: total, NextPageToken: next}
	var rates map[string]TopicRate
	if len(idx) > 0 {
		rates = a.ClusterSummary(ctx).Topics
	}
	for _, i := range idx {
		t := all[i]
		ts := TopicSummary{Name: t.Name, ID: t.ID.Base64(), Partitions: t.Partitions, Configs: len(t.Configs), CreatedAt: t.CreatedAt,
			ProduceBytesPerSec: rates[t.Name].ProduceBytesPerSec, FetchBytesPerSec: rates[t.Name].FetchBytesPerSec}
		// One query per topic of the page only, never per topic of the
		// cluster.
		sizes, err := a.cfg.Store.PartitionBytes(ctx, t.ID)
		if err != nil {
			return TopicPage{}, err
		}
		for _, b := range sizes {
			ts.Bytes += b
		}
		p.Topics = append(p.Topics, ts)
	}
	return p, nil
}

// PartitionInfo is one partition's log bounds and size.
type PartitionInfo struct {
	Partition      int32 `json:"partition"`
	LogStartOffset int64 `json:"log_start_offset"`
	HighWatermark  int64 `json:"high_watermark"`
	Messages       int64 `json:"messages"`
	Bytes          int64 `json:"bytes"`
}

// ConfigEntry is one topic config's effective value.
type ConfigEntry struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Source string `json:"source"` // "topic" (set on the topic) or "default"
	Doc    string `json:"doc,omitempty"`
}

// Topic is the answer of GET /api/v1/topics/{name}.
type Topic struct {
	Name       string          `json:"name"`
	ID         string          `json:"id"`
	CreatedAt  time.Time       `json:"created_at"`
	Bytes      int64           `json:"bytes"`
	Messages   int64           `json:"messages"`
	Partitions []PartitionInfo `json:"partitions"`
	Configs    []ConfigEntry   `json:"configs"`
}

// Topic describes one topic: partitions with their bounds and sizes, and
// every config with its effective value.
func (a *API) Topic(ctx context.Context, name string) (Topic, error) {
	t, err := a.cfg.Store.Topic(ctx, name)
	if err != nil {
		return Topic{}, storeError(err, name)
	}
	out := Topic{Name: t.Name, ID: t.ID.Base64(), CreatedAt: t.CreatedAt}
	sizes, err := a.cfg.Store.PartitionBytes(ctx, t.ID)
	if err != nil {
		return Topic{}, err
	}
	for p := int32(0); p < t.Partitions; p++ {
		st, err := a.cfg.Store.PartitionState(ctx, t.ID, p)
		if err != nil {
			return Topic{}, storeError(err, name)
		}
		pi := PartitionInfo{Partition: p, LogStartOffset: st.LogStartOffset, HighWatermark: st.HighWatermark,
			Messages: st.HighWatermark - st.LogStartOffset, Bytes: sizes[p]}
		out.Bytes += pi.Bytes
		out.Messages += pi.Messages
		out.Partitions = append(out.Partitions, pi)
	}
	for _, c := range topics.Configs() {
		e := ConfigEntry{Name: c.Name, Value: topics.Value(t.Configs, c.Name), Source: "default", Doc: c.Documentation()}
		if _, ok := t.Configs[c.Name]; ok {
			e.Source = "topic"
		}
		out.Configs = append(out.Configs, e)
	}
	return out, nil
}

// CreateTopicRequest is the body of POST /api/v1/topics.
type CreateTopicRequest struct {
	Name string `json:"name"`
	// Partitions is the partition count; 0 means the agent's default.
	Partitions int32             `json:"partitions,omitempty"`
	Configs    map[string]string `json:"configs,omitempty"`
	// ValidateOnly runs every check and creates nothing.
	ValidateOnly bool `json:"validate_only,omitempty"`
}

// CreateTopic creates a topic with a CreateTopics request.
func (a *API) CreateTopic(ctx context.Context, p auth.Principal, in CreateTopicRequest) error {
	if in.Name == "" {
		return badRequest("name is required")
	}
	if in.Partitions < 0 {
		return badRequest("partitions must be positive (or omitted for the default), got %d", in.Partitions)
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.ValidateOnly = in.ValidateOnly
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = in.Name, -1, -1
	if in.Partitions > 0 {
		rt.NumPartitions = in.Partitions
	}
	names := make([]string, 0, len(in.Configs))
	for k := range in.Configs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(in.Configs[k])
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := a.do(ctx, p, 7, req)
	if err != nil {
		return err
	}
	r := resp.(*kmsg.CreateTopicsResponse)
	if len(r.Topics) != 1 {
		return errors.New("CreateTopics answered no topic")
	}
	return kafkaError(r.Topics[0].ErrorCode, r.Topics[0].ErrorMessage)
}

// DeleteTopic deletes a topic with a DeleteTopics request.
func (a *API) DeleteTopic(ctx context.Context, p auth.Principal, name string) error {
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = kmsg.StringPtr(name)
	req.Topics = append(req.Topics, rt)
	req.TopicNames = []string{name}
	resp, err := a.do(ctx, p, 6, req)
	if err != nil {
		return err
	}
	r := resp.(*kmsg.DeleteTopicsResponse)
	if len(r.Topics) != 1 {
		return errors.New("DeleteTopics answered no topic")
	}
	return kafkaError(r.Topics[0].ErrorCode, r.Topics[0].ErrorMessage)
}

// AlterConfigsRequest is the body of PATCH /api/v1/topics/{name}/configs.
type AlterConfigsRequest struct {
	// Set gives configs new values.
	Set map[string]string `json:"set,omitempty"`
	// Delete returns configs to their defaults.
	Delete []string `json:"delete,omitempty"`
	// ValidateOnly runs every check and changes nothing.
	ValidateOnly bool `json:"validate_only,omitempty"`
}

// AlterConfigs changes a topic's configs with an IncrementalAlterConfigs
// request: all of them change or none do.
func (a *API) AlterConfigs(ctx context.Context, p auth.Principal, name string, in AlterConfigsRequest) error {
	if len(in.Set) == 0 && len(in.Delete) == 0 {
		return badRequest("nothing to change: give set and/or delete")
	}
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.ValidateOnly = in.ValidateOnly
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, name
	keys := make([]string, 0, len(in.Set))
	for k := range in.Set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = k, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(in.Set[k])
		rr.Configs = append(rr.Configs, c)
	}
	for _, k := range in.Delete {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op = k, kmsg.IncrementalAlterConfigOpDelete
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	resp, err := a.do(ctx, p, 1, req)
	if err != nil {
		return err
	}
	r := resp.(*kmsg.IncrementalAlterConfigsResponse)
	if len(r.Resources) != 1 {
		return errors.New("IncrementalAlterConfigs answered no resource")
	}
	return kafkaError(r.Resources[0].ErrorCode, r.Resources[0].ErrorMessage)
}

// AddPartitionsRequest is the body of POST /api/v1/topics/{name}/partitions.
type AddPartitionsRequest struct {
	// Count is the new total partition count.
	Count        int32 `json:"count"`
	ValidateOnly bool  `json:"validate_only,omitempty"`
}

// AddPartitions raises a topic's partition count with a CreatePartitions
// request.
func (a *API) AddPartitions(ctx context.Context, p auth.Principal, name string, in AddPartitionsRequest) error {
	if in.Count <= 0 {
		return badRequest("count (the new total partition count) must be positive, got %d", in.Count)
	}
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = 30000
	req.ValidateOnly = in.ValidateOnly
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = name, in.Count
	req.Topics = append(req.Topics, rt)
	resp, err := a.do(ctx, p, 3, req)
	if err != nil {
		return err
	}
	r := resp.(*kmsg.CreatePartitionsResponse)
	if len(r.Topics) != 1 {
		return errors.New("CreatePartitions answered no topic")
	}
	return kafkaError(r.Topics[0].ErrorCode, r.Topics[0].ErrorMessage)
}

func (a *API) serveTopics(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	q, err := parseListQuery(r)
	if err != nil {
		return err
	}
	pg, err := a.Topics(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pg)
	return nil
}

func (a *API) serveTopic(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	t, err := a.Topic(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (a *API) serveCreateTopic(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in CreateTopicRequest
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if err := a.CreateTopic(r.Context(), p, in); err != nil {
		return err
	}
	if in.ValidateOnly {
		writeJSON(w, http.StatusOK, map[string]any{"name": in.Name, "valid": true})
		return nil
	}
	return a.writeTopic(w, r, in.Name, http.StatusCreated)
}

func (a *API) writeTopic(w http.ResponseWriter, r *http.Request, name string, status int) error {
	t, err := a.Topic(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, status, t)
	return nil
}

func (a *API) serveDeleteTopic(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	name := r.PathValue("name")
	if err := a.DeleteTopic(r.Context(), p, name); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"deleted": name})
	return nil
}

func (a *API) serveAlterConfigs(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in AlterConfigsRequest
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := a.AlterConfigs(r.Context(), p, name, in); err != nil {
		return err
	}
	return a.writeTopic(w, r, name, http.StatusOK)
}

func (a *API) serveAddPartitions(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in AddPartitionsRequest
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := a.AddPartitions(r.Context(), p, name, in); err != nil {
		return err
	}
	return a.writeTopic(w, r, name, http.StatusOK)
}

// topicByName looks a topic up for reads, as a 404 when it is missing.
func (a *API) topicByName(ctx context.Context, name string) (metadata.Topic, error) {
	t, err := a.cfg.Store.Topic(ctx, name)
	if err != nil {
		return t, storeError(err, name)
	}
	return t, nil
}
