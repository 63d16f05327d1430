package groups

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
)

// TestConsumerScenario runs the KIP-848 scenarios in testdata/consumer on
// group "g", with a manual clock. Members are named by the test (their
// member IDs, as from ConsumerGroupHeartbeat v1, where clients pick them).
// Partitions are written topic:p,p;topic:p. Commands:
//
//	config [session=D] [refresh=D]
//	                  recreate the coordinator (a fresh store) with these limits
//	topic NAME N      create topic NAME with N partitions
//	join NAME [topics=T,T] [regex=R] [rebalance=D] [instance=I] [assignor=A]
//	                  a heartbeat with epoch 0 (topics default to t)
//	hb NAME [epoch=N] [owned=PARTS|assigned|none] [full] [instance=I]
//	                  a heartbeat; epoch defaults to NAME's last epoch;
//	                  owned=assigned reports the last assignment NAME was
//	                  sent (a client that has taken it), none an empty list;
//	                  without owned the field is null (unchanged); full
//	                  repeats the subscription and rebalance timeout
//	leave NAME [static] [instance=I]
//	                  a heartbeat with epoch -1 (-2 with static)
//	advance D         move the manual clock, firing due timers
//	describe          the group: epochs, and per member its epoch, state,
//	                  assigned, revoking and target partitions
//	restart           another coordinator takes the group over
func TestConsumerScenario(t *testing.T) {
	var r *consumerRunner
	runScenarios(t, filepath.Join("testdata", "consumer"), func(t *testing.T, d *directive) string {
		if d.cmd == "config" {
			r = newConsumerRunner(t, Config{ConsumerSessionTimeout: durKV(t, d, "session", 0), ConsumerMetadataRefresh: durKV(t, d, "refresh", 0)})
			return "ok"
		}
		if r == nil || r.t != t {
			r = newConsumerRunner(t, Config{})
		}
		return r.run(d)
	})
}

type consumerRunner struct {
	t        *testing.T
	h        *harness
	clock    *manualClock
	topics   map[metadata.TopicID]string
	epochs   map[string]int32               // member → last epoch sent
	assigned map[string][]TopicIDPartitions // member → last assignment sent
	subs     map[string]ConsumerHeartbeatRequest
}

func newConsumerRunner(t *testing.T, cfg Config) *consumerRunner {
	clk := newManualClock()
	cfg.Clock = clk
	return &consumerRunner{t: t, h: newHarness(t, cfg), clock: clk, topics: map[metadata.TopicID]string{},
		epochs: map[string]int32{}, assigned: map[string][]TopicIDPartitions{}, subs: map[string]ConsumerHeartbeatRequest{}}
}

func (r *consumerRunner) parts(ps []TopicIDPartitions) string {
	var out []string
	for _, p := range ps {
		var ns []string
		for _, n := range p.Partitions {
			ns = append(ns, strconv.Itoa(int(n)))
		}
		out = append(out, r.topics[p.TopicID]+":"+strings.Join(ns, ","))
	}
	sort.Strings(out)
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ";")
}

func (r *consumerRunner) parseParts(d *directive, s string) []TopicIDPartitions {
	out := []TopicIDPartitions{}
	if s == "none" {
		return out
	}
	for _, tps := range strings.Split(s, ";") {
		name, ps, _ := strings.Cut(tps, ":")
		var id metadata.TopicID
		for tid, n := range r.topics {
			if n == name {
				id = tid
			}
		}
		t := TopicIDPartitions{TopicID: id}
		for _, p := range strings.Split(ps, ",") {
			n, err := strconv.Atoi(p)
			if err != nil {
				r.t.Fatalf("line %d: partitions %q", d.line, s)
			}
			t.Partitions = append(t.Partitions, int32(n))
		}
		out = append(out, t)
	}
	return out
}

func (r *consumerRunner) result(name string, res ConsumerHeartbeatResult) string {
	if res.Err != nil {
		return name + ": error=" + errName(res.Err)
	}
	r.epochs[name] = res.MemberEpoch
	s := fmt.Sprintf("%s: epoch=%d", name, res.MemberEpoch)
	if res.HasAssignment {
		r.assigned[name] = res.Assignment
		s += " assignment=" + r.parts(res.Assignment)
	}
	return s
}

func (r *consumerRunner) run(d *directive) string {
	ctx := context.Background()
	name := ""
	if len(d.args) > 0 {
		name = d.args[0]
	}
	switch d.cmd {
	case "topic":
		if len(d.args) != 2 {
			r.t.Fatalf("line %d: topic NAME N", d.line)
		}
		n, _ := strconv.Atoi(d.args[1])
		r.topics[r.h.topic(name, int32(n))] = name
		return ""
	case "join":
		req := ConsumerHeartbeatRequest{Group: "g", MemberID: name, MemberEpoch: joinEpoch, InstanceID: instance(d), ClientID: name,
			RebalanceTimeoutMillis: int32(durKV(r.t, d, "rebalance", 30*time.Second).Milliseconds()), Owned: []TopicIDPartitions{}}
		if v, ok := d.kv["regex"]; ok {
			req.SubscribedTopicRegex = &v
		} else {
			req.SubscribedTopicNames = strings.Split(valueOr(d.kv["topics"], "t"), ",")
		}
		if v, ok := d.kv["assignor"]; ok {
			req.ServerAssignor = &v
		}
		r.subs[name] = req
		return r.result(name, r.h.c.ConsumerHeartbeat(ctx, req))
	case "hb":
		epoch := r.epochs[name]
		if v, ok := d.kv["epoch"]; ok {
			n, _ := strconv.Atoi(v)
			epoch = int32(n)
		}
		req := ConsumerHeartbeatRequest{Group: "g", MemberID: name, MemberEpoch: epoch, InstanceID: instance(d), ClientID: name, RebalanceTimeoutMillis: -1}
		if d.has("full") {
			sub := r.subs[name]
			req.RebalanceTimeoutMillis, req.SubscribedTopicNames, req.SubscribedTopicRegex = sub.RebalanceTimeoutMillis, sub.SubscribedTopicNames, sub.SubscribedTopicRegex
		}
		switch v, ok := d.kv["owned"]; {
		case !ok:
		case v == "assigned":
			req.Owned = append([]TopicIDPartitions{}, r.assigned[name]...)
		default:
			req.Owned = r.parseParts(d, v)
		}
		return r.result(name, r.h.c.ConsumerHeartbeat(ctx, req))
	case "leave":
		epoch := int32(leaveEpoch)
		if d.has("static") {
			epoch = staticLeaveEpoch
		}
		res := r.h.c.ConsumerHeartbeat(ctx, ConsumerHeartbeatRequest{Group: "g", MemberID: name, MemberEpoch: epoch, InstanceID: instance(d), RebalanceTimeoutMillis: -1})
		if res.Err != nil {
			return name + ": error=" + errName(res.Err)
		}
		return fmt.Sprintf("%s: left epoch=%d", name, res.MemberEpoch)
	case "advance":
		r.clock.Advance(durArg(r.t, d))
		return ""
	case "describe":
		return r.describe()
	case "restart":
		r.h.restart().Close()
		return ""
	}
	r.t.Fatalf("line %d: unknown command %q", d.line, d.cmd)
	return ""
}

func (r *consumerRunner) describe() string {
	d, err := r.h.c.DescribeConsumerGroup(context.Background(), "g")
	if err != nil {
		return "error=" + errName(err)
	}
	s := fmt.Sprintf("state=%s epoch=%d assignment-epoch=%d", d.State, d.Epoch, d.AssignmentEpoch)
	g := r.h.group("g")
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range d.Members {
		cm := g.members[m.MemberID]
		s += fmt.Sprintf("\n  %s epoch=%d %s assigned=%s", m.MemberID, m.MemberEpoch, cm.state, r.parts(m.Assignment))
		if len(cm.revoking) > 0 {
			s += " revoking=" + r.parts(toTopicIDPartitions(cm.revoking))
		}
		s += " target=" + r.parts(m.TargetAssignment)
	}
	return s
}
