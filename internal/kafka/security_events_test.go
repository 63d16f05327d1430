package kafka

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	xscram "github.com/xdg-go/scram"

	"github.com/sluicehq/sluice/internal/acl"
	"github.com/sluicehq/sluice/internal/events"
)

// recordingEmitter is an events.Emitter that keeps every event.
type recordingEmitter struct {
	mu     sync.Mutex // guards events
	events []events.Event
}

func (r *recordingEmitter) Emit(_ context.Context, e events.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// take returns the events of the given types recorded so far and forgets
// every event.
func (r *recordingEmitter) take(types ...string) []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []events.Event
	for _, e := range r.events {
		for _, typ := range types {
			if e.Type == typ {
				out = append(out, e)
			}
		}
	}
	r.events = nil
	return out
}

// produceOne is a Produce of one record to topic's partition 0.
func produceOne(topic string) *kmsg.ProduceRequest {
	r := kmsg.NewPtrProduceRequest()
	r.Version, r.Acks, r.TimeoutMillis = 9, -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: newBatch(1, 5, nil)}}
	r.Topics = append(r.Topics, rt)
	return r
}

// TestACLDecisionEvents: a denial in enforce mode and a would-be denial in
// shadow mode each record one io.sluice.acl.decision event naming who,
// what, where from; an allowed request records none.
func TestACLDecisionEvents(t *testing.T) {
	for _, mode := range []acl.Mode{acl.ModeEnforce, acl.ModeShadow} {
		t.Run(mode.String(), func(t *testing.T) {
			rec := &recordingEmitter{}
			authz := acl.New(acl.Config{Mode: mode}, denyAll(t), nil, discardLogger())
			if err := authz.Load(context.Background()); err != nil {
				t.Fatal(err)
			}
			ts := startServerDeps(t, Config{}, nil, func(d *Deps) { d.Authorizer = authz; d.Events = rec })
			ts.createTopic("t", 1, nil)
			rc := ts.dial()
			code := rc.roundTrip(produceOne("t")).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
			want := int16(0)
			if mode == acl.ModeEnforce {
				want = kerr.TopicAuthorizationFailed.Code
			}
			if code != want {
				t.Fatalf("produce: %v, want %v", kerr.ErrorForCode(code), kerr.ErrorForCode(want))
			}
			got := rec.take(events.TypeACLDecision)
			if len(got) != 1 {
				t.Fatalf("%d ACL decision events, want 1: %+v", len(got), got)
			}
			d, ok := got[0].Data.(events.ACLDecisionData)
			if !ok {
				t.Fatalf("data %T, want events.ACLDecisionData", got[0].Data)
			}
			wantData := events.ACLDecisionData{Principal: "User:ANONYMOUS", Operation: "WRITE", ResourceType: "TOPIC", Resource: "t",
				Listener: "PLAINTEXT", RemoteAddr: rc.c.LocalAddr().String(), Allowed: false, Shadow: mode == acl.ModeShadow, Reason: d.Reason}
			if d != wantData || d.Reason == "" || got[0].Subject != "t" {
				t.Fatalf("event %+v (subject %q), want %+v with a reason", d, got[0].Subject, wantData)
			}
		})
	}

	// Allowed decisions are recorded only with ACLEventsAllowed.
	for _, withAllowed := range []bool{false, true} {
		rec := &recordingEmitter{}
		authz := acl.New(acl.Config{Mode: acl.ModeEnforce, AllowEveryoneIfNoACLFound: true}, acl.NewMemStore(), nil, discardLogger())
		ts := startServerDeps(t, Config{ACLEventsAllowed: withAllowed}, nil, func(d *Deps) { d.Authorizer = authz; d.Events = rec })
		ts.createTopic("t", 1, nil)
		if code := ts.dial().roundTrip(produceOne("t")).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("allowed produce: %v", kerr.ErrorForCode(code))
		}
		got := rec.take(events.TypeACLDecision)
		if !withAllowed && len(got) != 0 {
			t.Fatalf("allowed produce recorded %+v without ACLEventsAllowed", got)
		}
		if withAllowed {
			if len(got) != 1 {
				t.Fatalf("%d events for an allowed produce with ACLEventsAllowed, want 1", len(got))
			}
			if d := got[0].Data.(events.ACLDecisionData); !d.Allowed || d.Shadow || d.Operation != "WRITE" || d.Resource != "t" || d.Reason != "allowed" {
				t.Fatalf("allowed decision %+v", d)
			}
		}
	}
}

// TestAuthenticationAuditEvents: each SASL authentication, PLAIN or SCRAM,
// failed or not, records one audit event with the mechanism, the user,
// the listener and the client's address, and never the password.
func TestAuthenticationAuditEvents(t *testing.T) {
	rec := &recordingEmitter{}
	ss := startSASLServerDeps(t, Config{}, func(d *Deps) { d.Events = rec })
	handshake := func(rc *rawConn, mech string) {
		req := kmsg.NewPtrSASLHandshakeRequest()
		req.Version, req.Mechanism = 1, mech
		if r := rc.roundTrip(req).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
			t.Fatalf("handshake %s: %v", mech, kerr.ErrorForCode(r.ErrorCode))
		}
	}
	authenticate := func(rc *rawConn, msg []byte) *kmsg.SASLAuthenticateResponse {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.Version, req.SASLAuthBytes = 1, msg
		return rc.roundTrip(req).(*kmsg.SASLAuthenticateResponse)
	}
	check := func(t *testing.T, rc *rawConn, typ string, want events.AuthData, errHas string) {
		t.Helper()
		got := rec.take(events.TypeAuthSuccess, events.TypeAuthFailure)
		if len(got) != 1 || got[0].Type != typ {
			t.Fatalf("events %+v, want one %s", got, typ)
		}
		d := got[0].Data.(events.AuthData)
		want.Listener, want.RemoteAddr, want.Error = "SASL", rc.c.LocalAddr().String(), d.Error
		if d != want || !strings.Contains(d.Error, errHas) || strings.Contains(d.Error, "secret") || strings.Contains(d.Error, "nope") {
			t.Fatalf("event data %+v, want %+v with an error holding %q and no password", d, want, errHas)
		}
	}

	t.Run("PlainFailure", func(t *testing.T) {
		rc := ss.dialSASL(t)
		handshake(rc, "PLAIN")
		if r := authenticate(rc, []byte("\x00alice\x00nope")); r.ErrorCode != kerr.SaslAuthenticationFailed.Code {
			t.Fatalf("wrong password: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		check(t, rc, events.TypeAuthFailure, events.AuthData{Principal: "User:alice", Mechanism: "PLAIN", Status: "FAILURE"}, "wrong password")
	})
	t.Run("PlainSuccess", func(t *testing.T) {
		rc := ss.dialSASL(t)
		handshake(rc, "PLAIN")
		if r := authenticate(rc, []byte("\x00alice\x00alice-secret")); r.ErrorCode != 0 {
			t.Fatalf("PLAIN: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		check(t, rc, events.TypeAuthSuccess, events.AuthData{Principal: "User:alice", Mechanism: "PLAIN", Status: "SUCCESS"}, "")
	})
	scram := func(t *testing.T, pass string) *rawConn {
		rc := ss.dialSASL(t)
		handshake(rc, "SCRAM-SHA-256")
		client, err := xscram.SHA256.NewClient("alice", pass, "")
		if err != nil {
			t.Fatal(err)
		}
		conv := client.NewConversation()
		first, _ := conv.Step("")
		r := authenticate(rc, []byte(first))
		if r.ErrorCode != 0 {
			t.Fatalf("client-first: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		final, err := conv.Step(string(r.SASLAuthBytes))
		if err != nil {
			t.Fatal(err)
		}
		r = authenticate(rc, []byte(final))
		if (r.ErrorCode == 0) != (pass == "alice-secret") {
			t.Fatalf("client-final with password %q: %v", pass, kerr.ErrorForCode(r.ErrorCode))
		}
		return rc
	}
	t.Run("ScramFailure", func(t *testing.T) {
		rc := scram(t, "nope")
		check(t, rc, events.TypeAuthFailure, events.AuthData{Principal: "User:alice", Mechanism: "SCRAM-SHA-256", Status: "FAILURE"}, "invalid proof")
	})
	t.Run("ScramSuccess", func(t *testing.T) {
		rc := scram(t, "alice-secret")
		check(t, rc, events.TypeAuthSuccess, events.AuthData{Principal: "User:alice", Mechanism: "SCRAM-SHA-256", Status: "SUCCESS"}, "")
	})
}

// TestACLAndScramAuditEvents: CreateAcls, DeleteAcls and
// AlterUserScramCredentials are audited, the last without its salt or
// salted password.
func TestACLAndScramAuditEvents(t *testing.T) {
	rec := &recordingEmitter{}
	store := acl.NewMemStore()
	authz := acl.New(acl.Config{Mode: acl.ModeEnforce, AllowEveryoneIfNoACLFound: true}, store, nil, discardLogger())
	ss := startSASLServerDeps(t, Config{}, func(d *Deps) { d.Authorizer = authz; d.Events = rec })
	rc := ss.dial()

	cr := kmsg.NewPtrCreateACLsRequest()
	cr.Version = 1
	cr.Creations = []kmsg.CreateACLsRequestCreation{{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "orders",
		ResourcePatternType: kmsg.ACLResourcePatternTypePrefixed, Principal: "User:bob", Host: "*",
		Operation: kmsg.ACLOperationRead, PermissionType: kmsg.ACLPermissionTypeAllow}}
	if code := rc.roundTrip(cr).(*kmsg.CreateACLsResponse).Results[0].ErrorCode; code != 0 {
		t.Fatalf("create: %v", kerr.ErrorForCode(code))
	}
	got := rec.take(events.TypeACLCreated)
	if len(got) != 1 {
		t.Fatalf("%d acl.created events, want 1", len(got))
	}
	d := got[0].Data.(events.AdminData)
	if d.Method != "kafka.CreateACLs" || d.ResourceType != "topic" || d.Resource != "orders" || d.Status != "SUCCESS" ||
		d.Request["principal"] != "User:bob" || d.Request["operation"] != "READ" || d.Request["pattern_type"] != "PREFIXED" || d.Request["permission"] != "ALLOW" {
		t.Fatalf("acl.created %+v", d)
	}

	del := kmsg.NewPtrDeleteACLsRequest()
	del.Version = 1
	del.Filters = []kmsg.DeleteACLsRequestFilter{{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: kmsg.StringPtr("orders"),
		ResourcePatternType: kmsg.ACLResourcePatternTypePrefixed, Operation: kmsg.ACLOperationAny, PermissionType: kmsg.ACLPermissionTypeAny}}
	if r := rc.roundTrip(del).(*kmsg.DeleteACLsResponse).Results[0]; r.ErrorCode != 0 || len(r.MatchingACLs) != 1 {
		t.Fatalf("delete: %+v", r)
	}
	got = rec.take(events.TypeACLDeleted)
	if len(got) != 1 {
		t.Fatalf("%d acl.deleted events, want 1", len(got))
	}
	if d := got[0].Data.(events.AdminData); d.Method != "kafka.DeleteACLs" || d.Resource != "orders" || len(d.Request["deleted"].([]string)) != 1 {
		t.Fatalf("acl.deleted %+v", d)
	}

	alter := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	up.Name, up.Mechanism, up.Iterations = "carol", 1, 4096
	up.Salt, up.SaltedPassword = []byte("SALT-SALT"), []byte("SALTED-PASSWORD")
	alter.Upsertions = append(alter.Upsertions, up)
	if r := rc.roundTrip(alter).(*kmsg.AlterUserSCRAMCredentialsResponse).Results[0]; r.ErrorCode != 0 {
		t.Fatalf("alter scram: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	got = rec.take(events.TypeSCRAMAltered)
	if len(got) != 1 {
		t.Fatalf("%d scram.altered events, want 1", len(got))
	}
	raw, err := got[0].Marshal()
	if err != nil {
		t.Fatal(err)
	}
	d = got[0].Data.(events.AdminData)
	if d.Resource != "carol" || d.ResourceType != "user" || d.Status != "SUCCESS" || !strings.Contains(string(raw), "SCRAM-SHA-256") ||
		strings.Contains(string(raw), "SALT-SALT") || strings.Contains(string(raw), "U0FMV") || strings.Contains(string(raw), "salted_password") {
		t.Fatalf("scram.altered %s", raw)
	}
}
