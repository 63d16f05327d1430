package e2e

// ACL tests. Until SASL and mTLS land every client is User:ANONYMOUS, which
// is exactly what a client of a PLAINTEXT listener is in Kafka; the tests
// make ANONYMOUS differ from the principal the ACLs name. The agents run
// with --acl-mode enforce and --allow-everyone-if-no-acl-found, and the
// test gives ANONYMOUS ALTER and DESCRIBE on the cluster (to administer
// ACLs): a resource then becomes denied to ANONYMOUS the moment an ACL for
// User:alice names it, and allowed again once an ACL for ANONYMOUS is
// added. That is deny-then-allow on every API family.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const anonymous = "User:ANONYMOUS"

// startEnforcingAgent starts an agent that enforces ACLs, allows what no
// ACL names, and lets ANONYMOUS administer ACLs.
func startEnforcingAgent(t *testing.T) *Agent {
	t.Helper()
	a := StartAgent(t, "", "--acl-mode", "enforce", "--allow-everyone-if-no-acl-found")
	createACLs(t, a.Admin(), kadm.NewACLs().Clusters().Allow(anonymous).Operations(kadm.OpAlter, kadm.OpDescribe))
	return a
}

// createACLs creates b's ACLs or fails the test.
func createACLs(t *testing.T, adm *kadm.Client, b *kadm.ACLBuilder) {
	t.Helper()
	res, err := adm.CreateACLs(testContext(t, 20*time.Second), b)
	if err != nil {
		t.Fatalf("create ACLs: %v", err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create ACL %+v: %v %s", r, r.Err, r.ErrMessage)
		}
	}
}

// seedRequest sends req to the agent itself, without kgo's routing (which
// would need metadata the principal may be denied).
func seedRequest[R kmsg.Response](t *testing.T, cl *kgo.Client, req kmsg.Request) R {
	t.Helper()
	resp, err := cl.SeedBrokers()[0].Request(testContext(t, 20*time.Second), req)
	if err != nil {
		t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp.(R)
}

// findCoordinator asks the agent for key's coordinator and returns the
// error code.
func findCoordinator(t *testing.T, cl *kgo.Client, typ int8, key string) int16 {
	t.Helper()
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorType, fc.CoordinatorKey, fc.CoordinatorKeys = typ, key, []string{key}
	resp := seedRequest[*kmsg.FindCoordinatorResponse](t, cl, fc)
	if len(resp.Coordinators) == 1 {
		return resp.Coordinators[0].ErrorCode
	}
	return resp.ErrorCode
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	if got != want.Code {
		t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

func wantErr(t *testing.T, what string, err error, want *kerr.Error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

// TestACLProduceFetchMetadata: a topic an ACL names for someone else is
// invisible and refused to ANONYMOUS (produce, fetch, list offsets,
// metadata, idempotent producer IDs per KIP-679) without telling whether
// it exists, and works once ANONYMOUS is allowed.
func TestACLProduceFetchMetadata(t *testing.T) {
	t.Parallel()
	a := startEnforcingAgent(t)
	ctx := testContext(t, 60*time.Second)
	adm := a.Admin()
	created, err := adm.CreateTopic(ctx, 1, 1, nil, "acl-data")
	if err != nil {
		t.Fatal(err)
	}
	a.CreateTopic("open-data", 1)
	// Everything under acl- is alice's from now on: acl-data exists,
	// acl-ghost does not.
	createACLs(t, adm, kadm.NewACLs().Topics("acl-").ResourcePatternType(kadm.ACLPatternPrefixed).Allow("User:alice").Operations(kadm.OpAll))

	cl := a.Client(kgo.DisableIdempotentWrite(), kgo.RecordDeliveryTimeout(10*time.Second))
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "acl-data", Value: []byte("x")}).FirstErr()
	wantErr(t, "produce", err, kerr.TopicAuthorizationFailed)

	// Metadata: the denied topic is left out of a full listing, and a
	// denied existing topic and a denied missing one (auto-creation on)
	// answer alike; the missing one is not created.
	md := seedRequest[*kmsg.MetadataResponse](t, cl, kmsg.NewPtrMetadataRequest())
	var names []string
	for _, mt := range md.Topics {
		names = append(names, *mt.Topic)
	}
	if slices.Contains(names, "acl-data") || !slices.Contains(names, "open-data") {
		t.Fatalf("metadata lists %v", names)
	}
	mreq := kmsg.NewPtrMetadataRequest()
	mreq.AllowAutoTopicCreation = true
	mreq.IncludeTopicAuthorizedOperations = true
	for _, name := range []string{"acl-data", "acl-ghost", "open-data"} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		mreq.Topics = append(mreq.Topics, rt)
	}
	md = seedRequest[*kmsg.MetadataResponse](t, cl, mreq)
	wantCode(t, "metadata acl-data", md.Topics[0].ErrorCode, kerr.TopicAuthorizationFailed)
	wantCode(t, "metadata acl-ghost", md.Topics[1].ErrorCode, kerr.TopicAuthorizationFailed)
	if md.Topics[0].TopicID != [16]byte{} || len(md.Topics[0].Partitions) != 0 {
		t.Fatalf("denied topic's details leaked: %+v", md.Topics[0])
	}
	// KIP-430: no ACL names open-data, so every topic operation is allowed.
	if ops := kadm.DecodeACLOperations(md.Topics[2].AuthorizedOperations); len(ops) != 8 {
		t.Fatalf("open-data authorized operations %v", ops)
	}

	fetch := kmsg.NewPtrFetchRequest()
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = "acl-data", created.ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	fr := seedRequest[*kmsg.FetchResponse](t, cl, fetch)
	wantCode(t, "fetch", fr.Topics[0].Partitions[0].ErrorCode, kerr.TopicAuthorizationFailed)

	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "acl-data"
	lt.Partitions = append(lt.Partitions, kmsg.NewListOffsetsRequestTopicPartition())
	lo.Topics = append(lo.Topics, lt)
	lr := seedRequest[*kmsg.ListOffsetsResponse](t, cl, lo)
	wantCode(t, "list offsets", lr.Topics[0].Partitions[0].ErrorCode, kerr.TopicAuthorizationFailed)

	// KIP-679: an idempotent producer needs IDEMPOTENT_WRITE on the
	// cluster or WRITE on some topic; ANONYMOUS has neither yet (topics
	// have ACLs now, so allow-everyone no longer applies to the type).
	ipr := seedRequest[*kmsg.InitProducerIDResponse](t, cl, kmsg.NewPtrInitProducerIDRequest())
	wantCode(t, "init producer id", ipr.ErrorCode, kerr.ClusterAuthorizationFailed)

	// Allow ANONYMOUS: produce (idempotent), consume, list, describe.
	createACLs(t, adm, kadm.NewACLs().Topics("acl-data").Allow(anonymous).Operations(kadm.OpWrite, kadm.OpRead))
	ipr = seedRequest[*kmsg.InitProducerIDResponse](t, cl, kmsg.NewPtrInitProducerIDRequest())
	if ipr.ErrorCode != 0 {
		t.Fatalf("init producer id after WRITE: %v", kerr.ErrorForCode(ipr.ErrorCode))
	}
	prod := a.Client()
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "acl-data", Value: []byte("allowed")}).FirstErr(); err != nil {
		t.Fatalf("produce once allowed: %v", err)
	}
	recs := a.ConsumeAll(ctx, "acl-data")
	if len(recs[0]) != 1 || string(recs[0][0].Value) != "allowed" {
		t.Fatalf("consumed %v", recs)
	}
	md = seedRequest[*kmsg.MetadataResponse](t, cl, mreq)
	if md.Topics[0].ErrorCode != 0 {
		t.Fatalf("metadata acl-data once allowed: %v", kerr.ErrorForCode(md.Topics[0].ErrorCode))
	}
	wantCode(t, "metadata acl-ghost still", md.Topics[1].ErrorCode, kerr.TopicAuthorizationFailed)
	ops := kadm.DecodeACLOperations(md.Topics[0].AuthorizedOperations)
	slices.Sort(ops)
	if want := []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe}; !slices.Equal(ops, sortedOps(want)) {
		t.Fatalf("acl-data authorized operations %v, want %v", ops, want)
	}
	if td, err := adm.ListTopics(ctx); err != nil || !td.Has("acl-data") || td.Has("acl-ghost") {
		t.Fatalf("list topics %v: %v", td.Names(), err)
	}
}

func sortedOps(ops []kmsg.ACLOperation) []kmsg.ACLOperation {
	slices.Sort(ops)
	return ops
}

// TestACLGroups: group APIs need the group permissions Kafka asks for.
func TestACLGroups(t *testing.T) {
	t.Parallel()
	a := startEnforcingAgent(t)
	ctx := testContext(t, 60*time.Second)
	adm := a.Admin()
	a.CreateTopic("grp-topic", 1)
	createACLs(t, adm, kadm.NewACLs().Groups("alice-group").Allow("User:alice").Operations(kadm.OpAll))
	cl := a.Client()

	offsets := make(kadm.Offsets)
	offsets.AddOffset("grp-topic", 0, 1, -1)
	_, err := adm.CommitOffsets(ctx, "alice-group", offsets)
	wantErr(t, "commit offsets", err, kerr.GroupAuthorizationFailed)

	wantCode(t, "find coordinator", findCoordinator(t, cl, 0, "alice-group"), kerr.GroupAuthorizationFailed)

	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{"alice-group"}
	wantCode(t, "describe groups", seedRequest[*kmsg.DescribeGroupsResponse](t, cl, dg).Groups[0].ErrorCode, kerr.GroupAuthorizationFailed)

	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"alice-group"}
	wantCode(t, "delete groups", seedRequest[*kmsg.DeleteGroupsResponse](t, cl, del).Groups[0].ErrorCode, kerr.GroupAuthorizationFailed)

	of := kmsg.NewPtrOffsetFetchRequest()
	of.Group = "alice-group"
	ofg := kmsg.NewOffsetFetchRequestGroup()
	ofg.Group = "alice-group"
	of.Groups = append(of.Groups, ofg)
	ofr := seedRequest[*kmsg.OffsetFetchResponse](t, cl, of)
	code := ofr.ErrorCode
	if len(ofr.Groups) == 1 {
		code = ofr.Groups[0].ErrorCode
	}
	wantCode(t, "offset fetch", code, kerr.GroupAuthorizationFailed)

	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.ProtocolType, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = "alice-group", "consumer", 10000, 10000
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{}}}
	wantCode(t, "join group", seedRequest[*kmsg.JoinGroupResponse](t, cl, join).ErrorCode, kerr.GroupAuthorizationFailed)

	// Allow READ (join, commit, fetch offsets) and DELETE, and DESCRIBE
	// is implied: the same calls now work, and the group is listed.
	createACLs(t, adm, kadm.NewACLs().Groups("alice-group").Allow(anonymous).Operations(kadm.OpRead, kadm.OpDelete))
	resp, err := adm.CommitOffsets(ctx, "alice-group", offsets)
	if err != nil || resp.Error() != nil {
		t.Fatalf("commit once allowed: %v %v", err, resp.Error())
	}
	fetched, err := adm.FetchOffsets(ctx, "alice-group")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup("grp-topic", 0); !ok || o.At != 1 {
		t.Fatalf("fetched offsets %v", fetched)
	}
	if listed, err := adm.ListGroups(ctx); err != nil || !slices.Contains(listed.Groups(), "alice-group") {
		t.Fatalf("list groups %v: %v", listed.Groups(), err)
	}
	// A group consumer works end to end.
	a.mustCLI(t, "a\nb\n", "produce", "-t", "grp-topic")
	consumer := a.Client(kgo.ConsumerGroup("alice-group"), kgo.ConsumeTopics("grp-topic"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := consumer.PollRecords(ctx, 10)
	if errs := fs.Errors(); len(errs) > 0 || fs.NumRecords() == 0 {
		t.Fatalf("group consume: %v, %d records", errs, fs.NumRecords())
	}
	consumer.Close()
	// Another group stays invisible: alice-only groups are not listed.
	createACLs(t, adm, kadm.NewACLs().Groups("hidden-group").Allow("User:alice").Operations(kadm.OpRead))
	if _, err := adm.CommitOffsets(ctx, "hidden-group", offsets); !errors.Is(err, kerr.GroupAuthorizationFailed) {
		t.Fatalf("hidden-group commit: %v", err)
	}
	dresp, err := adm.DeleteGroups(ctx, "alice-group")
	if err != nil || dresp.Error() != nil {
		t.Fatalf("delete group once allowed: %v %v", err, dresp.Error())
	}
	// ListGroups lists a group ANONYMOUS may describe, and stops listing
	// it once a DENY of DESCRIBE names it, unless ANONYMOUS may describe
	// the cluster (then every group is listed). ANONYMOUS's ALTER on the
	// cluster implies DESCRIBE, so the cluster is handed to alice first.
	resp, err = adm.CommitOffsets(ctx, "listed-group", offsets)
	if err != nil || resp.Error() != nil {
		t.Fatalf("commit to listed-group: %v %v", err, resp.Error())
	}
	createACLs(t, adm, kadm.NewACLs().Groups("listed-group").Deny(anonymous).Operations(kadm.OpDescribe))
	if listed, err := adm.ListGroups(ctx); err != nil || !slices.Contains(listed.Groups(), "listed-group") {
		t.Fatalf("list groups with DESCRIBE on the cluster: %v, %v", listed.Groups(), err)
	}
	createACLs(t, adm, kadm.NewACLs().Clusters().Allow("User:alice").Operations(kadm.OpAll))
	if dres, err := adm.DeleteACLs(ctx, kadm.NewACLs().Clusters().Allow(anonymous).AllowHosts().Operations()); err != nil || len(dres) != 1 || len(dres[0].Deleted) != 2 {
		t.Fatalf("delete ANONYMOUS's cluster ACLs: %+v, %v", dres, err)
	}
	if listed, err := adm.ListGroups(ctx); err != nil || slices.Contains(listed.Groups(), "listed-group") {
		t.Fatalf("list groups after DENY DESCRIBE: %v, %v", listed.Groups(), err)
	}
}

// TestACLAdminAPIs: topic administration and configs need CREATE, ALTER,
// DELETE, DESCRIBE_CONFIGS and ALTER_CONFIGS as in Kafka.
func TestACLAdminAPIs(t *testing.T) {
	t.Parallel()
	a := startEnforcingAgent(t)
	ctx := testContext(t, 60*time.Second)
	adm := a.Admin()
	createACLs(t, adm, kadm.NewACLs().Topics("adm-").ResourcePatternType(kadm.ACLPatternPrefixed).Allow("User:alice").Operations(kadm.OpAll))

	// The cluster has ACLs (ALTER, DESCRIBE for ANONYMOUS) and none grants
	// CREATE, so creating needs CREATE on the topic.
	_, err := adm.CreateTopic(ctx, 1, 1, nil, "adm-x")
	wantErr(t, "create topic", err, kerr.TopicAuthorizationFailed)
	createACLs(t, adm, kadm.NewACLs().Topics("adm-").ResourcePatternType(kadm.ACLPatternPrefixed).Allow(anonymous).Operations(kadm.OpCreate))
	res, err := adm.CreateTopic(ctx, 1, 1, nil, "adm-x")
	if err != nil {
		t.Fatalf("create once allowed: %v", err)
	}
	if res.Err != nil {
		t.Fatalf("create once allowed: %v", res.Err)
	}

	// CREATE implies nothing else: configs, partitions, records, delete.
	rc, err := adm.DescribeTopicConfigs(ctx, "adm-x")
	if err == nil {
		err = rc[0].Err
	}
	wantErr(t, "describe configs", err, kerr.TopicAuthorizationFailed)
	alter := []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kmsg.StringPtr("60000")}}
	ar, err := adm.AlterTopicConfigs(ctx, alter, "adm-x")
	if err == nil {
		err = ar[0].Err
	}
	wantErr(t, "alter configs", err, kerr.TopicAuthorizationFailed)
	cp, err := adm.CreatePartitions(ctx, 1, "adm-x")
	if err == nil {
		err = cp["adm-x"].Err
	}
	wantErr(t, "create partitions", err, kerr.TopicAuthorizationFailed)
	dr := kmsg.NewPtrDeleteRecordsRequest()
	drt := kmsg.NewDeleteRecordsRequestTopic()
	drt.Topic = "adm-x"
	drt.Partitions = []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: 0}}
	dr.Topics = append(dr.Topics, drt)
	wantCode(t, "delete records", seedRequest[*kmsg.DeleteRecordsResponse](t, a.Client(), dr).Topics[0].Partitions[0].ErrorCode, kerr.TopicAuthorizationFailed)
	dt, err := adm.DeleteTopics(ctx, "adm-x")
	if err == nil {
		err = dt["adm-x"].Err
	}
	wantErr(t, "delete topic", err, kerr.TopicAuthorizationFailed)
	// Broker configs are the cluster's DESCRIBE_CONFIGS.
	bc, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err == nil {
		err = bc[0].Err
	}
	wantErr(t, "describe broker configs", err, kerr.ClusterAuthorizationFailed)

	createACLs(t, adm, kadm.NewACLs().Topics("adm-x").Allow(anonymous).Operations(kadm.OpAlterConfigs, kadm.OpAlter, kadm.OpDelete))
	createACLs(t, adm, kadm.NewACLs().Clusters().Allow(anonymous).Operations(kadm.OpDescribeConfigs))
	// A new client: kgo caches the denied metadata answers for a while.
	adm = a.Admin()
	// ALTER_CONFIGS implies DESCRIBE_CONFIGS.
	if rc, err = adm.DescribeTopicConfigs(ctx, "adm-x"); err != nil || rc[0].Err != nil {
		t.Fatalf("describe configs once allowed: %v %v", err, rc)
	}
	if ar, err = adm.AlterTopicConfigs(ctx, alter, "adm-x"); err != nil || ar[0].Err != nil {
		t.Fatalf("alter configs once allowed: %v %v", err, ar)
	}
	if cp, err = adm.CreatePartitions(ctx, 1, "adm-x"); err != nil || cp["adm-x"].Err != nil {
		t.Fatalf("create partitions once allowed: %v %v", err, cp)
	}
	if bc, err = adm.DescribeBrokerConfigs(ctx, 1); err != nil || bc[0].Err != nil {
		t.Fatalf("describe broker configs once allowed: %v %v", err, bc)
	}
	if dt, err = adm.DeleteTopics(ctx, "adm-x"); err != nil || dt["adm-x"].Err != nil {
		t.Fatalf("delete topic once allowed: %v %v", err, dt)
	}
}

// TestACLTransactions: transactional producers need WRITE on their
// transactional ID; the ID is hidden from ListTransactions otherwise.
func TestACLTransactions(t *testing.T) {
	t.Parallel()
	a := startEnforcingAgent(t)
	ctx := testContext(t, 60*time.Second)
	adm := a.Admin()
	a.CreateTopic("txn-topic", 1)
	createACLs(t, adm, kadm.NewACLs().TransactionalIDs("tx-").ResourcePatternType(kadm.ACLPatternPrefixed).Allow("User:alice").Operations(kadm.OpAll))
	cl := a.Client()

	ipr := kmsg.NewPtrInitProducerIDRequest()
	ipr.TransactionalID = kmsg.StringPtr("tx-1")
	ipr.TransactionTimeoutMillis = 10000
	wantCode(t, "init producer id", seedRequest[*kmsg.InitProducerIDResponse](t, cl, ipr).ErrorCode, kerr.TransactionalIDAuthorizationFailed)
	wantCode(t, "find coordinator", findCoordinator(t, cl, 1, "tx-1"), kerr.TransactionalIDAuthorizationFailed)
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID = "tx-1"
	wantCode(t, "end txn", seedRequest[*kmsg.EndTxnResponse](t, cl, end).ErrorCode, kerr.TransactionalIDAuthorizationFailed)

	createACLs(t, adm, kadm.NewACLs().TransactionalIDs("tx-1").Allow(anonymous).Operations(kadm.OpWrite))
	prod := a.Client(kgo.TransactionalID("tx-1"), kgo.DefaultProduceTopic("txn-topic"))
	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := prod.ProduceSync(ctx, kgo.StringRecord("in-txn")).FirstErr(); err != nil {
		t.Fatalf("transactional produce once allowed: %v", err)
	}
	if err := prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit once allowed: %v", err)
	}
	// tx-1 is listed (WRITE implies DESCRIBE); alice's tx-2 is not.
	ltr := kmsg.NewPtrListTransactionsRequest()
	lt := seedRequest[*kmsg.ListTransactionsResponse](t, cl, ltr)
	var ids []string
	for _, s := range lt.TransactionStates {
		ids = append(ids, s.TransactionalID)
	}
	if !slices.Contains(ids, "tx-1") {
		t.Fatalf("list transactions %v", ids)
	}
	createACLs(t, adm, kadm.NewACLs().TransactionalIDs("tx-1").Deny(anonymous).Operations(kadm.OpDescribe))
	lt = seedRequest[*kmsg.ListTransactionsResponse](t, cl, ltr)
	if len(lt.TransactionStates) != 0 {
		t.Fatalf("a DENY of DESCRIBE still lists %v", lt.TransactionStates)
	}
}

// aclMetric sums sluice_acl_decisions_total samples whose labels contain
// every one of labels.
func aclMetric(t *testing.T, httpAddr string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "sluice_acl_decisions_total{") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if ok {
			v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			sum += v
		}
	}
	return sum
}

// TestACLShadow: in shadow mode every request is served, and the denials
// enforcement would make are counted and logged.
func TestACLShadow(t *testing.T) {
	t.Parallel()
	// No ACL allows ANONYMOUS anything and nothing is allowed by default.
	a := StartAgent(t, "", "--acl-mode", "shadow")
	ctx := testContext(t, 60*time.Second)
	a.CreateTopic("shadowed", 1)
	if err := a.Client(kgo.DefaultProduceTopic("shadowed")).ProduceSync(ctx, kgo.StringRecord("served")).FirstErr(); err != nil {
		t.Fatalf("produce in shadow mode: %v", err)
	}
	if recs := a.ConsumeAll(ctx, "shadowed"); len(recs[0]) != 1 {
		t.Fatalf("consume in shadow mode: %v", recs)
	}
	// ACL administration works too (its CLUSTER ALTER denial is counted).
	createACLs(t, a.Admin(), kadm.NewACLs().Topics("shadowed").Allow("User:alice").Operations(kadm.OpRead))
	for _, labels := range [][]string{
		{`mode="shadow"`, `result="denied"`, `operation="WRITE"`, `resource_type="TOPIC"`},
		{`mode="shadow"`, `result="denied"`, `operation="READ"`, `resource_type="TOPIC"`},
		{`mode="shadow"`, `result="denied"`, `operation="CREATE"`, `resource_type="TOPIC"`},
		{`mode="shadow"`, `result="denied"`, `operation="ALTER"`, `resource_type="CLUSTER"`},
	} {
		if n := aclMetric(t, a.HTTPAddr, labels...); n < 1 {
			t.Errorf("sluice_acl_decisions_total%v = %v, want ≥ 1", labels, n)
		}
	}
	if n := aclMetric(t, a.HTTPAddr, `result="allowed"`); n != 0 {
		t.Errorf("%v decisions allowed; ANONYMOUS has no ACL", n)
	}
	if !strings.Contains(a.logs.String(), "would deny") {
		t.Error("no would-be denial was logged")
	}
}

// TestACLAdminKadm administers ACLs with kadm and the CLI, with Kafka's
// validation errors, and SECURITY_DISABLED under --acl-mode off.
func TestACLAdminKadm(t *testing.T) {
	t.Parallel()
	off := StartAgent(t, "")
	res, err := off.Admin().CreateACLs(testContext(t, 20*time.Second), kadm.NewACLs().Topics("t").Allow("User:alice").Operations(kadm.OpRead))
	if err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.SecurityDisabled) {
		t.Fatalf("create under --acl-mode off: %v %+v", err, res)
	}

	a := startEnforcingAgent(t)
	ctx := testContext(t, 60*time.Second)
	adm := a.Admin()
	createACLs(t, adm, kadm.NewACLs().Topics("orders").Allow("User:alice", "User:bob").AllowHosts("10.0.0.1").Operations(kadm.OpRead, kadm.OpDescribe))
	createACLs(t, adm, kadm.NewACLs().Groups("billing-").ResourcePatternType(kadm.ACLPatternPrefixed).
		Allow("User:alice", "User:bob").AllowHosts("10.0.0.1").Operations(kadm.OpRead, kadm.OpDescribe))
	// 2 resources × 2 principals × 1 host × 2 operations.
	all, err := adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow().AllowHosts().Deny().DenyHosts().Operations().ResourcePatternType(kadm.ACLPatternAny))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range all {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		n += len(r.Described)
	}
	if n != 8+2 { // plus the cluster ACLs startEnforcingAgent made
		t.Fatalf("described %d ACLs: %+v", n, all)
	}

	// Invalid bindings: INVALID_REQUEST with the reason.
	for _, b := range []*kadm.ACLBuilder{
		kadm.NewACLs().Topics("t").Allow("alice").Operations(kadm.OpRead),                                 // principal without a type
		kadm.NewACLs().Topics("t").Allow("User:alice").AllowHosts("host.example").Operations(kadm.OpRead), // host not an IP
		kadm.NewACLs().Groups("g").Allow("User:alice").Operations(kadm.OpWrite),                           // no WRITE on groups
	} {
		res, err := adm.CreateACLs(ctx, b)
		if err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.InvalidRequest) || res[0].ErrMessage == "" {
			t.Fatalf("invalid ACL: %v %+v", err, res)
		}
	}

	// The CLI: create, list (MATCH-style resource and principal filters),
	// delete.
	out := a.mustCLI(t, "", "acls", "create", "--allow-principal", "User:carol", "--operation", "Write", "--operation", "describe",
		"--topic", "logs.", "--resource-pattern-type", "prefixed")
	if strings.Count(out, "created:") != 2 {
		t.Fatalf("acls create said: %s", out)
	}
	out = a.mustCLI(t, "", "acls", "list", "--principal", "User:carol")
	if strings.Count(out, "User:carol") != 2 || !strings.Contains(out, "PREFIXED") || strings.Contains(out, "User:alice") {
		t.Fatalf("acls list --principal said: %s", out)
	}
	out = a.mustCLI(t, "", "acls", "list", "--topic", "orders", "--resource-pattern-type", "literal")
	if strings.Count(out, "\n") != 1+4 || strings.Contains(out, "billing") {
		t.Fatalf("acls list --topic orders said: %s", out)
	}
	out = a.mustCLI(t, "", "acls", "delete", "--allow-principal", "User:carol", "--operation", "Write", "--topic", "logs.", "--resource-pattern-type", "prefixed")
	if strings.Count(out, "deleted:") != 1 {
		t.Fatalf("acls delete said: %s", out)
	}
	out = a.mustCLI(t, "", "acls", "list", "--principal", "User:carol")
	if strings.Count(out, "User:carol") != 1 || !strings.Contains(out, "DESCRIBE") {
		t.Fatalf("after delete, acls list said: %s", out)
	}
	if out, err := a.cli(t, "", "acls", "create", "--allow-principal", "User:x", "--operation", "Read", "--cluster"); err == nil || !strings.Contains(out, "INVALID_REQUEST") {
		t.Fatalf("READ on the cluster: %v %s", err, out)
	}

	// Deleting with kadm returns what it deleted; DENY wins at once.
	dres, err := adm.DeleteACLs(ctx, kadm.NewACLs().Groups("billing-").ResourcePatternType(kadm.ACLPatternPrefixed).Allow().AllowHosts().Operations())
	if err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for _, r := range dres {
		deleted += len(r.Deleted)
	}
	if deleted != 4 {
		t.Fatalf("deleted %d ACLs: %+v", deleted, dres)
	}
	createACLs(t, adm, kadm.NewACLs().Clusters().Deny(anonymous).Operations(kadm.OpDescribe))
	dd, err := adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow().AllowHosts().Operations())
	if err == nil {
		err = dd[0].Err
	}
	wantErr(t, "describe ACLs after denying DESCRIBE on the cluster", err, kerr.ClusterAuthorizationFailed)
}

// TestACLAdminKafkaPython administers ACLs through kafka-python's
// KafkaAdminClient (Debian's confluent-kafka 1.7 has no ACL API).
func TestACLAdminKafkaPython(t *testing.T) {
	t.Parallel()
	cliRequirePython(t, "import kafka.admin")
	a := StartAgent(t, "", "--acl-mode", "shadow")
	out, err := cliRun(testContext(t, 60*time.Second), nil, cliPython, "py/acls_kafka_python.py", a.KafkaAddr)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Created       []string `json:"created"`
		CreateFailed  []string `json:"create_failed"`
		InvalidErrors []int16  `json:"invalid_errors"`
		All           []string `json:"all"`
		MatchGroup    []string `json:"match_group"`
		Deleted       []string `json:"deleted"`
		AfterDelete   []string `json:"after_delete"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	group := "GROUP py- PREFIXED User:alice * READ ALLOW"
	topic := "TOPIC py-orders LITERAL User:alice * READ ALLOW"
	deny := "TOPIC py-orders LITERAL User:mallory 10.0.0.1 ALL DENY"
	check := func(what string, got, want []string) {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	check("created", res.Created, []string{group, topic, deny})
	check("create_failed", res.CreateFailed, nil)
	if len(res.InvalidErrors) != 1 || res.InvalidErrors[0] != kerr.InvalidRequest.Code {
		t.Errorf("invalid binding errors %v, want [INVALID_REQUEST]", res.InvalidErrors)
	}
	check("all", res.All, []string{group, topic, deny})
	check("match_group", res.MatchGroup, []string{group})
	check("deleted", res.Deleted, []string{deny})
	check("after_delete", res.AfterDelete, []string{group, topic})
}

// TestACLClusterPropagation: an ACL created through one agent is enforced
// by another within 2 s, and so is its deletion.
func TestACLClusterPropagation(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, clusterOpts{zones: []string{"", ""}, extra: []string{"--acl-mode", "enforce", "--allow-everyone-if-no-acl-found"}})
	a, b := c.Agents[0], c.Agents[1]
	a.CreateTopic("prop", 1)
	clB := b.Client()
	describable := func() bool {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("prop")
		req.Topics = append(req.Topics, rt)
		return seedRequest[*kmsg.MetadataResponse](t, clB, req).Topics[0].ErrorCode == 0
	}
	waitFor := func(what string, want bool) time.Duration {
		t.Helper()
		start := time.Now()
		for describable() != want {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("%s: agent %d still not enforcing after 10s", what, b.NodeID)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(start)
	}
	if !describable() {
		t.Fatal("prop is not describable before any ACL")
	}
	adm := a.Admin()
	createACLs(t, adm, kadm.NewACLs().Topics("prop").Allow("User:alice").Operations(kadm.OpRead))
	if d := waitFor("create", false); d > 2*time.Second {
		t.Errorf("agent %d enforced the new ACL after %v, want ≤ 2s", b.NodeID, d)
	} else {
		t.Logf("created ACL enforced by the other agent after %v", d)
	}
	// The deletion must be made with the right to delete: ANONYMOUS may
	// administer ACLs only while the cluster resource has none.
	if _, err := adm.DeleteACLs(testContext(t, 20*time.Second), kadm.NewACLs().Topics("prop").Allow().AllowHosts().Operations()); err != nil {
		t.Fatal(err)
	}
	if d := waitFor("delete", true); d > 2*time.Second {
		t.Errorf("agent %d applied the deletion after %v, want ≤ 2s", b.NodeID, d)
	}
}

// TestACLAdminKafkajs administers ACLs through kafkajs's admin client.
func TestACLAdminKafkajs(t *testing.T) {
	t.Parallel()
	requireKafkajs(t)
	a := StartAgent(t, "", "--acl-mode", "shadow")
	lines := runKafkajs(t, "acls", map[string]any{"broker": a.KafkaAddr})
	var res struct {
		OK    bool     `json:"ok"`
		Error *string  `json:"error"`
		ACLs  []string `json:"acls"`
		Count int      `json:"count"`
	}
	topic := "TOPIC js-orders LITERAL User:alice * WRITE ALLOW"
	txn := "TRANSACTIONAL_ID js- PREFIXED User:alice * WRITE ALLOW"
	if one(t, lines, "created", &res); !res.OK {
		t.Fatalf("createAcls: %s", lines["created"])
	}
	if one(t, lines, "invalid", &res); res.Error == nil || *res.Error != "INVALID_REQUEST" {
		t.Errorf("invalid host: %s", lines["invalid"])
	}
	if one(t, lines, "described", &res); fmt.Sprint(res.ACLs) != fmt.Sprint([]string{topic, txn}) {
		t.Errorf("describeAcls: %q", res.ACLs)
	}
	if one(t, lines, "match", &res); fmt.Sprint(res.ACLs) != fmt.Sprint([]string{txn}) {
		t.Errorf("describeAcls MATCH js-app-1: %q", res.ACLs)
	}
	if one(t, lines, "deleted", &res); res.Count != 1 {
		t.Errorf("deleteAcls deleted %d", res.Count)
	}
	if one(t, lines, "after", &res); fmt.Sprint(res.ACLs) != fmt.Sprint([]string{txn}) {
		t.Errorf("after delete: %q", res.ACLs)
	}
}
