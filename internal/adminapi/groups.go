package adminapi

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/auth"
)

// GroupSummary is one group of a list.
type GroupSummary struct {
	GroupID      string `json:"group_id"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	// Type is "classic" or "consumer" (KIP-848), or "" when the group is
	// coordinated by another agent, which knows.
	Type string `json:"type,omitempty"`
}

// GroupPage is one page of GET /api/v1/groups.
type GroupPage struct {
	Groups        []GroupSummary `json:"groups"`
	Total         int            `json:"total"`
	NextPageToken string         `json:"next_page_token,omitempty"`
}

// Groups lists consumer groups from the metadata store (every agent's),
// searched and paged on the server; the type of the groups this agent
// coordinates comes from a ListGroups request.
func (a *API) Groups(ctx context.Context, p auth.Principal, q ListQuery) (GroupPage, error) {
	all, err := a.cfg.Store.ListGroups(ctx)
	if err != nil {
		return GroupPage{}, err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	idx, total, next, err := page(len(all), func(i int) string { return all[i].Name }, q)
	if err != nil {
		return GroupPage{}, err
	}
	owned := map[string]kmsg.ListGroupsResponseGroup{}
	if len(idx) > 0 {
		resp, err := a.do(ctx, p, 5, kmsg.NewPtrListGroupsRequest())
		if err != nil {
			return GroupPage{}, err
		}
		for _, g := range resp.(*kmsg.ListGroupsResponse).Groups {
			owned[g.Group] = g
		}
	}
	pg := GroupPage{Groups: []GroupSummary{}, Total: total, NextPageToken: next}
	for _, i := range idx {
		g := all[i]
		s := GroupSummary{GroupID: g.Name, State: g.State, ProtocolType: g.ProtocolType}
		if o, ok := owned[g.Name]; ok {
			s.State, s.ProtocolType, s.Type = o.GroupState, o.ProtocolType, o.GroupType
		}
		pg.Groups = append(pg.Groups, s)
	}
	return pg, nil
}

// TopicPartitions is a topic and some of its partitions.
type TopicPartitions struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

// GroupMember is one member of a group.
type GroupMember struct {
	MemberID   string  `json:"member_id"`
	InstanceID *string `json:"instance_id,omitempty"`
	ClientID   string  `json:"client_id"`
	ClientHost string  `json:"client_host"`
	// Assignment is what the member consumes.
	Assignment []TopicPartitions `json:"assignment"`
}

// GroupOffset is one partition's committed offset and lag.
type GroupOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Committed is -1 for an assigned partition with no commit.
	Committed    int64 `json:"committed_offset"`
	LogEndOffset int64 `json:"log_end_offset"`
	// Lag is LogEndOffset - Committed (absent without a commit).
	Lag *int64 `json:"lag,omitempty"`
}

// Group is the answer of GET /api/v1/groups/{id}.
type Group struct {
	GroupID string `json:"group_id"`
	State   string `json:"state"`
	// Type is the group protocol: "classic" or "consumer" (KIP-848).
	Type         string        `json:"type"`
	ProtocolType string        `json:"protocol_type"`
	Protocol     string        `json:"protocol"` // the assignor
	Members      []GroupMember `json:"members"`
	Offsets      []GroupOffset `json:"offsets"`
	TotalLag     int64         `json:"total_lag"`
}

// Group describes one group: its members and assignments (DescribeGroups,
// or ConsumerGroupDescribe for KIP-848 groups), committed offsets
// (OffsetFetch) and lag against the log end (ListOffsets). The agent must
// coordinate the group (503 NOT_COORDINATOR otherwise).
func (a *API) Group(ctx context.Context, p auth.Principal, id string) (Group, error) {
	if id == "" {
		return Group{}, badRequest("group id is empty")
	}
	g := Group{GroupID: id, Members: []GroupMember{}, Offsets: []GroupOffset{}}
	dreq := kmsg.NewPtrDescribeGroupsRequest()
	dreq.Groups = []string{id}
	resp, err := a.do(ctx, p, 5, dreq)
	if err != nil {
		return Group{}, err
	}
	dg := resp.(*kmsg.DescribeGroupsResponse).Groups
	if len(dg) != 1 {
		return Group{}, errors.New("DescribeGroups answered no group")
	}
	if err := kafkaError(dg[0].ErrorCode, dg[0].ErrorMessage); err != nil {
		return Group{}, err
	}
	known := true
	if dg[0].State != "Dead" {
		g.State, g.Type, g.ProtocolType, g.Protocol = dg[0].State, "classic", dg[0].ProtocolType, dg[0].Protocol
		for _, m := range dg[0].Members {
			gm := GroupMember{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost, Assignment: []TopicPartitions{}}
			if g.ProtocolType == "consumer" && len(m.MemberAssignment) > 0 {
				var as kmsg.ConsumerMemberAssignment
				if as.ReadFrom(m.MemberAssignment) == nil {
					for _, t := range as.Topics {
						gm.Assignment = append(gm.Assignment, TopicPartitions{Topic: t.Topic, Partitions: t.Partitions})
					}
				}
			}
			g.Members = append(g.Members, gm)
		}
	} else {
		creq := kmsg.NewPtrConsumerGroupDescribeRequest()
		creq.Groups = []string{id}
		resp, err := a.do(ctx, p, 0, creq)
		if err != nil {
			return Group{}, err
		}
		cg := resp.(*kmsg.ConsumerGroupDescribeResponse).Groups
		switch {
		case len(cg) != 1:
			return Group{}, errors.New("ConsumerGroupDescribe answered no group")
		case cg[0].ErrorCode == kerr.GroupIDNotFound.Code:
			known = false
			g.State, g.Type = "Dead", "classic"
		case cg[0].ErrorCode != 0:
			if cg[0].ErrorCode == kerr.InvalidGroupID.Code || cg[0].ErrorCode == kerr.GroupIDNotFound.Code {
				known = false
				g.State, g.Type = "Dead", "classic"
				break
			}
			return Group{}, kafkaError(cg[0].ErrorCode, cg[0].ErrorMessage)
		default:
			g.State, g.Type, g.ProtocolType, g.Protocol = cg[0].State, "consumer", "consumer", cg[0].AssignorName
			for _, m := range cg[0].Members {
				gm := GroupMember{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost, Assignment: []TopicPartitions{}}
				for _, t := range m.Assignment.TopicPartitions {
					gm.Assignment = append(gm.Assignment, TopicPartitions{Topic: t.Topic, Partitions: t.Partitions})
				}
				g.Members = append(g.Members, gm)
			}
		}
	}
	committed, err := a.committed(ctx, p, id)
	if err != nil {
		return Group{}, err
	}
	if !known && len(committed) == 0 {
		return Group{}, &Error{Status: http.StatusNotFound, Code: "GROUP_ID_NOT_FOUND", Message: "group " + strconv.Quote(id) + " does not exist"}
	}
	// Lag covers committed partitions and assigned ones.
	for _, m := range g.Members {
		for _, t := range m.Assignment {
			for _, part := range t.Partitions {
				if _, ok := committed[tp{t.Topic, part}]; !ok {
					committed[tp{t.Topic, part}] = -1
				}
			}
		}
	}
	parts := map[string][]int32{}
	for k := range committed {
		parts[k.topic] = append(parts[k.topic], k.partition)
	}
	ends := map[tp]int64{}
	if len(parts) > 0 {
		if ends, err = a.listOffsetsLenient(ctx, p, parts, -1); err != nil {
			return Group{}, err
		}
	}
	for k, off := range committed {
		o := GroupOffset{Topic: k.topic, Partition: k.partition, Committed: off, LogEndOffset: ends[k]}
		if off >= 0 {
			lag := max(o.LogEndOffset-off, 0)
			o.Lag = &lag
			g.TotalLag += lag
		}
		g.Offsets = append(g.Offsets, o)
	}
	sort.Slice(g.Offsets, func(i, j int) bool {
		if g.Offsets[i].Topic != g.Offsets[j].Topic {
			return g.Offsets[i].Topic < g.Offsets[j].Topic
		}
		return g.Offsets[i].Partition < g.Offsets[j].Partition
	})
	return g, nil
}

// committed returns a group's committed offsets (OffsetFetch, all topics).
func (a *API) committed(ctx context.Context, p auth.Principal, id string) (map[tp]int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = id
	req.Groups = append(req.Groups, rg)
	resp, err := a.do(ctx, p, 8, req)
	if err != nil {
		return nil, err
	}
	out := map[tp]int64{}
	for _, g := range resp.(*kmsg.OffsetFetchResponse).Groups {
		if err := kafkaError(g.ErrorCode, nil); err != nil {
			return nil, err
		}
		for _, t := range g.Topics {
			for _, pp := range t.Partitions {
				if pp.ErrorCode == 0 && pp.Offset >= 0 {
					out[tp{t.Topic, pp.Partition}] = pp.Offset
				}
			}
		}
	}
	return out, nil
}

// listOffsetsLenient is listOffsets where a partition that cannot be
// answered (a deleted topic) is left out.
func (a *API) listOffsetsLenient(ctx context.Context, p auth.Principal, parts map[string][]int32, ts int64) (map[tp]int64, error) {
	out := map[tp]int64{}
	for topic, ps := range parts {
		got, err := a.listOffsets(ctx, p, map[string][]int32{topic: ps}, ts)
		var e *Error
		if errors.As(err, &e) && e.Status == http.StatusNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		for k, v := range got {
			out[k] = v
		}
	}
	return out, nil
}

// DeleteGroup deletes a group without members, and its offsets, with a
// DeleteGroups request.
func (a *API) DeleteGroup(ctx context.Context, p auth.Principal, id string) error {
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Groups = []string{id}
	resp, err := a.do(ctx, p, 2, req)
	if err != nil {
		return err
	}
	gs := resp.(*kmsg.DeleteGroupsResponse).Groups
	if len(gs) != 1 {
		return errors.New("DeleteGroups answered no group")
	}
	return kafkaError(gs[0].ErrorCode, nil)
}

// ResetOffsetsRequest is the body of POST /api/v1/groups/{id}/reset-offsets.
type ResetOffsetsRequest struct {
	// To is earliest, latest, timestamp or offset.
	To string `json:"to"`
	// Timestamp (Unix ms) for to=timestamp: each partition moves to its
	// first offset at or after it (the log end when there is none).
	Timestamp *int64 `json:"timestamp,omitempty"`
	// Offset for to=offset, clamped to each partition's bounds.
	Offset *int64 `json:"offset,omitempty"`
	// Topics limits the reset; empty means every topic the group has
	// committed offsets for.
	Topics []string `json:"topics,omitempty"`
	// DryRun computes the new offsets and changes nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

// OffsetChange is one partition's reset.
type OffsetChange struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Current is -1 when the partition had no commit.
	Current int64 `json:"current_offset"`
	New     int64 `json:"new_offset"`
}

// ResetResult is the answer of a reset.
type ResetResult struct {
	GroupID string         `json:"group_id"`
	DryRun  bool           `json:"dry_run"`
	Offsets []OffsetChange `json:"offsets"`
}

// ResetOffsets moves a group's committed offsets, as
// kafka-consumer-groups.sh --reset-offsets does: only for a group without
// active members, committed with an OffsetCommit request like an admin
// client's (generation -1, no member).
func (a *API) ResetOffsets(ctx context.Context, p auth.Principal, id string, in ResetOffsetsRequest) (ResetResult, error) {
	switch in.To {
	case "earliest", "latest":
	case "timestamp":
		if in.Timestamp == nil || *in.Timestamp < 0 {
			return ResetResult{}, badRequest("to=timestamp needs a non-negative timestamp (Unix milliseconds)")
		}
	case "offset":
		if in.Offset == nil || *in.Offset < 0 {
			return ResetResult{}, badRequest("to=offset needs a non-negative offset")
		}
	default:
		return ResetResult{}, badRequest("to must be earliest, latest, timestamp or offset, got %q", in.To)
	}
	g, err := a.Group(ctx, p, id)
	if err != nil {
		return ResetResult{}, err
	}
	if len(g.Members) > 0 {
		return ResetResult{}, &Error{Status: http.StatusConflict, Code: "NON_EMPTY_GROUP",
			Message: "offsets can only be reset while the group has no active members; it has " + strconv.Itoa(len(g.Members))}
	}
	current := map[tp]int64{}
	parts := map[string][]int32{}
	if len(in.Topics) > 0 {
		for _, topic := range in.Topics {
			t, err := a.topicByName(ctx, topic)
			if err != nil {
				return ResetResult{}, err
			}
			for part := int32(0); part < t.Partitions; part++ {
				current[tp{topic, part}] = -1
				parts[topic] = append(parts[topic], part)
			}
		}
	}
	for _, o := range g.Offsets {
		if len(in.Topics) == 0 {
			parts[o.Topic] = append(parts[o.Topic], o.Partition)
			current[tp{o.Topic, o.Partition}] = o.Committed
		} else if _, ok := current[tp{o.Topic, o.Partition}]; ok {
			current[tp{o.Topic, o.Partition}] = o.Committed
		}
	}
	if len(parts) == 0 {
		return ResetResult{}, badRequest("the group has no committed offsets; name the topics to reset")
	}
	earliest, err := a.listOffsets(ctx, p, parts, -2)
	if err != nil {
		return ResetResult{}, err
	}
	latest, err := a.listOffsets(ctx, p, parts, -1)
	if err != nil {
		return ResetResult{}, err
	}
	var byTime map[tp]int64
	if in.To == "timestamp" {
		if byTime, err = a.listOffsets(ctx, p, parts, *in.Timestamp); err != nil {
			return ResetResult{}, err
		}
	}
	res := ResetResult{GroupID: id, DryRun: in.DryRun, Offsets: []OffsetChange{}}
	for k, cur := range current {
		var n int64
		switch in.To {
		case "earliest":
			n = earliest[k]
		case "latest":
			n = latest[k]
		case "timestamp":
			if n = byTime[k]; n < 0 {
				n = latest[k]
			}
		case "offset":
			n = min(max(*in.Offset, earliest[k]), latest[k])
		}
		res.Offsets = append(res.Offsets, OffsetChange{Topic: k.topic, Partition: k.partition, Current: cur, New: n})
	}
	sort.Slice(res.Offsets, func(i, j int) bool {
		if res.Offsets[i].Topic != res.Offsets[j].Topic {
			return res.Offsets[i].Topic < res.Offsets[j].Topic
		}
		return res.Offsets[i].Partition < res.Offsets[j].Partition
	})
	if in.DryRun {
		return res, nil
	}
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation, req.MemberID = id, -1, ""
	byTopic := map[string]int{}
	for _, o := range res.Offsets {
		i, ok := byTopic[o.Topic]
		if !ok {
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = o.Topic
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
			byTopic[o.Topic] = i
		}
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = o.Partition, o.New, -1
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	resp, err := a.do(ctx, p, 9, req)
	if err != nil {
		return ResetResult{}, err
	}
	for _, t := range resp.(*kmsg.OffsetCommitResponse).Topics {
		for _, pp := range t.Partitions {
			if pp.ErrorCode == kerr.UnknownMemberID.Code {
				return ResetResult{}, &Error{Status: http.StatusConflict, Code: "NON_EMPTY_GROUP", Message: "a member joined the group; offsets can only be reset while it has none"}
			}
			if err := kafkaError(pp.ErrorCode, nil); err != nil {
				return ResetResult{}, err
			}
		}
	}
	return res, nil
}

func (a *API) serveGroups(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q, err := parseListQuery(r)
	if err != nil {
		return err
	}
	pg, err := a.Groups(r.Context(), p, q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pg)
	return nil
}

func (a *API) serveGroup(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	g, err := a.Group(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, g)
	return nil
}

func (a *API) serveDeleteGroup(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id := r.PathValue("id")
	if err := a.DeleteGroup(r.Context(), p, id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"deleted": id})
	return nil
}

func (a *API) serveResetOffsets(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in ResetOffsetsRequest
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	res, err := a.ResetOffsets(r.Context(), p, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
