package kafka

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/acl"
	"github.com/sluicehq/sluice/internal/auth"
)

// startACLServer starts a server enforcing store's ACLs.
func startACLServer(t *testing.T, store acl.Store) *testServer {
	t.Helper()
	authz := acl.New(acl.Config{Mode: acl.ModeEnforce}, store, nil, discardLogger())
	if err := authz.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return startServerDeps(t, Config{}, nil, func(d *Deps) { d.Authorizer = authz })
}

func denyAll(t *testing.T) acl.Store {
	store := acl.NewMemStore()
	var bs []acl.Binding
	for _, rt := range []kmsg.ACLResourceType{kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup, kmsg.ACLResourceTypeCluster, kmsg.ACLResourceTypeTransactionalId} {
		bs = append(bs, acl.Binding{ResourceType: rt, ResourceName: "*", PatternType: kmsg.ACLResourcePatternTypeLiteral,
			Principal: acl.WildcardPrincipal, Host: "*", Operation: kmsg.ACLOperationAll, Permission: kmsg.ACLPermissionTypeDeny})
	}
	if err := store.AddACLs(context.Background(), bs); err != nil {
		t.Fatal(err)
	}
	return store
}

// TestEveryAPIDenied sends each served API, as a principal every ACL
// denies, and checks Kafka's authorization error. The transaction
// coordinator is not even configured: a denied request never reaches it.
func TestEveryAPIDenied(t *testing.T) {
	ts := startACLServer(t, denyAll(t))
	ts.createTopic("t", 1, nil)

	const (
		topicErr = "TOPIC"
		groupErr = "GROUP"
		clErr    = "CLUSTER"
		txnErr   = "TXN"
		hidden   = "HIDDEN" // no error; the resource is left out
	)
	codes := map[string]int16{topicErr: kerr.TopicAuthorizationFailed.Code, groupErr: kerr.GroupAuthorizationFailed.Code,
		clErr: kerr.ClusterAuthorizationFailed.Code, txnErr: kerr.TransactionalIDAuthorizationFailed.Code, hidden: 0}
	txnID := kmsg.StringPtr("tx")

	tests := []struct {
		name string
		req  func() kmsg.Request
		code func(kmsg.Response) int16
		want string
	}{
		{"Produce", func() kmsg.Request {
			r := kmsg.NewPtrProduceRequest()
			r.Version, r.Acks, r.TimeoutMillis = 9, -1, 5000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = "t"
			rt.Partitions = []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: encodeRecords(1, func(int) []byte { return []byte("v") })}}
			r.Topics = append(r.Topics, rt)
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode }, topicErr},
		{"Produce transactional", func() kmsg.Request {
			r := kmsg.NewPtrProduceRequest()
			r.Version, r.Acks, r.TimeoutMillis, r.TransactionID = 9, -1, 5000, txnID
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = "t"
			rt.Partitions = []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: encodeRecords(1, func(int) []byte { return []byte("v") })}}
			r.Topics = append(r.Topics, rt)
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode }, txnErr},
		{"Fetch", func() kmsg.Request {
			r := kmsg.NewPtrFetchRequest()
			r.Version = 12
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = "t"
			ft.Partitions = []kmsg.FetchRequestTopicPartition{{Partition: 0, PartitionMaxBytes: 1 << 20}}
			r.Topics = append(r.Topics, ft)
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode }, topicErr},
		{"ListOffsets", func() kmsg.Request {
			r := kmsg.NewPtrListOffsetsRequest()
			r.Version = 4
			r.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: "t", Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: 0, Timestamp: -1}}}}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode }, topicErr},
		{"Metadata by name", func() kmsg.Request {
			r := kmsg.NewPtrMetadataRequest()
			r.Version = 9
			r.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("t")}}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.MetadataResponse).Topics[0].ErrorCode }, topicErr},
		{"Metadata all", func() kmsg.Request {
			r := kmsg.NewPtrMetadataRequest()
			r.Version = 9
			return r
		}, func(r kmsg.Response) int16 { return int16(len(r.(*kmsg.MetadataResponse).Topics)) }, hidden},
		{"OffsetCommit", func() kmsg.Request {
			r := kmsg.NewPtrOffsetCommitRequest()
			r.Version, r.Group = 7, "g"
			r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}}}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode }, groupErr},
		{"OffsetFetch", func() kmsg.Request {
			r := kmsg.NewPtrOffsetFetchRequest()
			r.Version, r.Group = 7, "g"
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.OffsetFetchResponse).ErrorCode }, groupErr},
		{"FindCoordinator group", func() kmsg.Request {
			r := kmsg.NewPtrFindCoordinatorRequest()
			r.Version, r.CoordinatorKey = 3, "g"
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.FindCoordinatorResponse).ErrorCode }, groupErr},
		{"FindCoordinator txn", func() kmsg.Request {
			r := kmsg.NewPtrFindCoordinatorRequest()
			r.Version, r.CoordinatorKey, r.CoordinatorType = 3, "tx", 1
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.FindCoordinatorResponse).ErrorCode }, txnErr},
		{"JoinGroup", func() kmsg.Request {
			r := kmsg.NewPtrJoinGroupRequest()
			r.Version, r.Group, r.ProtocolType, r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 5, "g", "consumer", 10000, 10000
			r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{}}}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.JoinGroupResponse).ErrorCode }, groupErr},
		{"Heartbeat", func() kmsg.Request {
			r := kmsg.NewPtrHeartbeatRequest()
			r.Version, r.Group, r.MemberID = 3, "g", "m"
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.HeartbeatResponse).ErrorCode }, groupErr},
		{"LeaveGroup", func() kmsg.Request {
			r := kmsg.NewPtrLeaveGroupRequest()
			r.Version, r.Group = 3, "g"
			r.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "m"}}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.LeaveGroupResponse).ErrorCode }, groupErr},
		{"SyncGroup", func() kmsg.Request {
			r := kmsg.NewPtrSyncGroupRequest()
			r.Version, r.Group, r.MemberID = 3, "g", "m"
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.SyncGroupResponse).ErrorCode }, groupErr},
		{"DescribeGroups", func() kmsg.Request {
			r := kmsg.NewPtrDescribeGroupsRequest()
			r.Version, r.Groups = 4, []string{"g"}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.DescribeGroupsResponse).Groups[0].ErrorCode }, groupErr},
		{"ListGroups", func() kmsg.Request {
			return kmsg.NewPtrListGroupsRequest()
		}, func(r kmsg.Response) int16 { return int16(len(r.(*kmsg.ListGroupsResponse).Groups)) }, hidden},
		{"DeleteGroups", func() kmsg.Request {
			r := kmsg.NewPtrDeleteGroupsRequest()
			r.Version, r.Groups = 1, []string{"g"}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode }, groupErr},
		{"OffsetDelete", func() kmsg.Request {
			r := kmsg.NewPtrOffsetDeleteRequest()
			r.Group = "g"
			r.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.OffsetDeleteResponse).ErrorCode }, groupErr},
		{"ConsumerGroupHeartbeat", func() kmsg.Request {
			r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			r.Group, r.MemberID, r.RebalanceTimeoutMillis = "g", "m", 10000
			r.SubscribedTopicNames = []string{"t"}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode }, groupErr},
		{"ConsumerGroupDescribe", func() kmsg.Request {
			r := kmsg.NewPtrConsumerGroupDescribeRequest()
			r.Groups = []string{"g"}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.ConsumerGroupDescribeResponse).Groups[0].ErrorCode }, groupErr},
		{"CreateTopics", func() kmsg.Request {
			r := kmsg.NewPtrCreateTopicsRequest()
			r.Version = 5
			r.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: "new", NumPartitions: 1, ReplicationFactor: 1}}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode }, topicErr},
		{"DeleteTopics", func() kmsg.Request {
			r := kmsg.NewPtrDeleteTopicsRequest()
			r.Version, r.TopicNames = 4, []string{"t"}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode }, topicErr},
		{"DeleteRecords", func() kmsg.Request {
			r := kmsg.NewPtrDeleteRecordsRequest()
			r.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: "t", Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0}}}}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0].ErrorCode }, topicErr},
		{"CreatePartitions", func() kmsg.Request {
			r := kmsg.NewPtrCreatePartitionsRequest()
			r.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: "t", Count: 2}}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode }, topicErr},
		{"DescribeConfigs topic", func() kmsg.Request {
			r := kmsg.NewPtrDescribeConfigsRequest()
			r.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "t"}}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode }, topicErr},
		{"DescribeConfigs broker", func() kmsg.Request {
			r := kmsg.NewPtrDescribeConfigsRequest()
			r.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "1"}}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode }, clErr},
		{"AlterConfigs", func() kmsg.Request {
			r := kmsg.NewPtrAlterConfigsRequest()
			r.Resources = []kmsg.AlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "t"}}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode }, topicErr},
		{"IncrementalAlterConfigs", func() kmsg.Request {
			r := kmsg.NewPtrIncrementalAlterConfigsRequest()
			r.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "t"}}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode }, topicErr},
		{"InitProducerID idempotent", func() kmsg.Request {
			return kmsg.NewPtrInitProducerIDRequest()
		}, func(r kmsg.Response) int16 { return r.(*kmsg.InitProducerIDResponse).ErrorCode }, clErr},
		{"InitProducerID transactional", func() kmsg.Request {
			r := kmsg.NewPtrInitProducerIDRequest()
			r.TransactionalID, r.TransactionTimeoutMillis = txnID, 10000
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.InitProducerIDResponse).ErrorCode }, txnErr},
		{"AddPartitionsToTxn", func() kmsg.Request {
			r := kmsg.NewPtrAddPartitionsToTxnRequest()
			r.TransactionalID = "tx"
			r.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{0}}}
			return r
		}, func(r kmsg.Response) int16 {
			return r.(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode
		}, txnErr},
		{"AddOffsetsToTxn", func() kmsg.Request {
			r := kmsg.NewPtrAddOffsetsToTxnRequest()
			r.TransactionalID, r.Group = "tx", "g"
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.AddOffsetsToTxnResponse).ErrorCode }, txnErr},
		{"EndTxn", func() kmsg.Request {
			r := kmsg.NewPtrEndTxnRequest()
			r.TransactionalID = "tx"
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.EndTxnResponse).ErrorCode }, txnErr},
		{"TxnOffsetCommit", func() kmsg.Request {
			r := kmsg.NewPtrTxnOffsetCommitRequest()
			r.TransactionalID, r.Group = "tx", "g"
			r.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}}}
			return r
		}, func(r kmsg.Response) int16 {
			return r.(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
		}, txnErr},
		{"DescribeTransactions", func() kmsg.Request {
			r := kmsg.NewPtrDescribeTransactionsRequest()
			r.TransactionalIDs = []string{"tx"}
			return r
		}, func(r kmsg.Response) int16 {
			return r.(*kmsg.DescribeTransactionsResponse).TransactionStates[0].ErrorCode
		}, txnErr},
		{"OffsetForLeaderEpoch", func() kmsg.Request {
			r := kmsg.NewPtrOffsetForLeaderEpochRequest()
			r.Version, r.ReplicaID = 3, -1
			r.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{{Partition: 0, CurrentLeaderEpoch: -1, LeaderEpoch: 0}}}}
			return r
		}, func(r kmsg.Response) int16 {
			return r.(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0].ErrorCode
		}, topicErr},
		{"DescribeProducers", func() kmsg.Request {
			r := kmsg.NewPtrDescribeProducersRequest()
			r.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: "t", Partitions: []int32{0}}}
			return r
		}, func(r kmsg.Response) int16 {
			return r.(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0].ErrorCode
		}, topicErr},
		{"DescribeLogDirs", func() kmsg.Request {
			r := kmsg.NewPtrDescribeLogDirsRequest()
			r.Version = 3
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.DescribeLogDirsResponse).ErrorCode }, clErr},
		{"ElectLeaders", func() kmsg.Request {
			r := kmsg.NewPtrElectLeadersRequest()
			r.Version = 1
			r.Topics = []kmsg.ElectLeadersRequestTopic{{Topic: "t", Partitions: []int32{0}}}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.ElectLeadersResponse).Topics[0].Partitions[0].ErrorCode }, clErr},
		{"ListPartitionReassignments", func() kmsg.Request {
			return kmsg.NewPtrListPartitionReassignmentsRequest()
		}, func(r kmsg.Response) int16 { return r.(*kmsg.ListPartitionReassignmentsResponse).ErrorCode }, clErr},
		{"CreateACLs", func() kmsg.Request {
			r := kmsg.NewPtrCreateACLsRequest()
			r.Creations = []kmsg.CreateACLsRequestCreation{{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "t",
				ResourcePatternType: kmsg.ACLResourcePatternTypeLiteral, Principal: "User:a", Host: "*",
				Operation: kmsg.ACLOperationRead, PermissionType: kmsg.ACLPermissionTypeAllow}}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.CreateACLsResponse).Results[0].ErrorCode }, clErr},
		{"DescribeACLs", func() kmsg.Request {
			return kmsg.NewPtrDescribeACLsRequest()
		}, func(r kmsg.Response) int16 { return r.(*kmsg.DescribeACLsResponse).ErrorCode }, clErr},
		{"DeleteACLs", func() kmsg.Request {
			r := kmsg.NewPtrDeleteACLsRequest()
			r.Filters = []kmsg.DeleteACLsRequestFilter{kmsg.NewDeleteACLsRequestFilter()}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.DeleteACLsResponse).Results[0].ErrorCode }, clErr},

		{"DescribeClientQuotas", func() kmsg.Request {
			return kmsg.NewPtrDescribeClientQuotasRequest()
		}, func(r kmsg.Response) int16 { return r.(*kmsg.DescribeClientQuotasResponse).ErrorCode }, clErr},
		{"AlterClientQuotas", func() kmsg.Request {
			r := kmsg.NewPtrAlterClientQuotasRequest()
			r.Entries = []kmsg.AlterClientQuotasRequestEntry{{Entity: []kmsg.AlterClientQuotasRequestEntryEntity{{Type: "user", Name: kmsg.StringPtr("u")}},
				Ops: []kmsg.AlterClientQuotasRequestEntryOp{{Key: "producer_byte_rate", Value: 1024}}}}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.AlterClientQuotasResponse).Entries[0].ErrorCode }, clErr},

		{"DescribeUserSCRAMCredentials", func() kmsg.Request {
			return kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
		}, func(r kmsg.Response) int16 { return r.(*kmsg.DescribeUserSCRAMCredentialsResponse).ErrorCode }, clErr},
		{"AlterUserSCRAMCredentials", func() kmsg.Request {
			r := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
			d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
			d.Name, d.Mechanism = "alice", 1
			r.Deletions = append(r.Deletions, d)
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.AlterUserSCRAMCredentialsResponse).Results[0].ErrorCode }, clErr},
	}
	covered := map[int16]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req()
			covered[req.Key()] = true
			resp := ts.dialT(t).roundTrip(req)
			if got, want := tt.code(resp), codes[tt.want]; got != want {
				t.Fatalf("got %v (%d), want %v", kerr.ErrorForCode(got), got, kerr.ErrorForCode(want))
			}
		})
	}
	// Every served API but ApiVersions, DescribeCluster, SaslHandshake and
	// SaslAuthenticate (which Kafka does not authorize) and
	// ListTransactions (which filters what the transaction coordinator
	// lists; see test/e2e/acl_test.go) is in the table.
	for key := range supported {
		if !covered[key] && key != apiVersionsKey && key != 60 && key != 66 && key != 17 && key != 36 {
			t.Errorf("%s is not checked", kmsg.NameForKey(key))
		}
	}
}

// TestACLAdminErrors: validation and SECURITY_DISABLED.
func TestACLAdminErrors(t *testing.T) {
	off := startServer(t, Config{}).dial()
	cr := kmsg.NewPtrCreateACLsRequest()
	cr.Creations = []kmsg.CreateACLsRequestCreation{{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "t", Principal: "User:a", Host: "*",
		Operation: kmsg.ACLOperationRead, PermissionType: kmsg.ACLPermissionTypeAllow}}
	if code := off.roundTrip(cr).(*kmsg.CreateACLsResponse).Results[0].ErrorCode; code != kerr.SecurityDisabled.Code {
		t.Fatalf("create with ACLs off: %v", kerr.ErrorForCode(code))
	}
	if code := off.roundTrip(kmsg.NewPtrDescribeACLsRequest()).(*kmsg.DescribeACLsResponse).ErrorCode; code != kerr.SecurityDisabled.Code {
		t.Fatalf("describe with ACLs off: %v", kerr.ErrorForCode(code))
	}

	// Allowed to administer (no ACL on the cluster; allow-if-none is not
	// set, so a super user).
	store := acl.NewMemStore()
	authz := acl.New(acl.Config{Mode: acl.ModeEnforce, SuperUsers: []auth.Principal{auth.Anonymous}}, store, nil, discardLogger())
	rc := startServerDeps(t, Config{}, nil, func(d *Deps) { d.Authorizer = authz }).dial()
	// v0 has no pattern type: LITERAL. One valid creation, one invalid.
	cr.Version = 0
	bad := cr.Creations[0]
	bad.ResourceType, bad.Operation = kmsg.ACLResourceTypeCluster, kmsg.ACLOperationAlter // not named kafka-cluster
	cr.Creations = append(cr.Creations, bad)
	resp := rc.roundTrip(cr).(*kmsg.CreateACLsResponse)
	if resp.Results[0].ErrorCode != 0 || resp.Results[1].ErrorCode != kerr.InvalidRequest.Code || resp.Results[1].ErrorMessage == nil {
		t.Fatalf("create: %+v", resp.Results)
	}
	bs, _, _ := store.ACLs(context.Background())
	if len(bs) != 1 || bs[0].PatternType != kmsg.ACLResourcePatternTypeLiteral {
		t.Fatalf("stored %v", bs)
	}
	dr := kmsg.NewPtrDescribeACLsRequest()
	dr.Version, dr.ResourceType = 1, kmsg.ACLResourceTypeUnknown
	dr.ResourcePatternType, dr.Operation, dr.PermissionType = kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	if code := rc.roundTrip(dr).(*kmsg.DescribeACLsResponse).ErrorCode; code != kerr.InvalidRequest.Code {
		t.Fatalf("describe with an UNKNOWN resource type: %v", kerr.ErrorForCode(code))
	}
	dr.ResourceType = kmsg.ACLResourceTypeAny
	d := rc.roundTrip(dr).(*kmsg.DescribeACLsResponse)
	if d.ErrorCode != 0 || len(d.Resources) != 1 || len(d.Resources[0].ACLs) != 1 {
		t.Fatalf("describe: %+v", d)
	}
	del := kmsg.NewPtrDeleteACLsRequest()
	del.Version = 1
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType, f.Operation, f.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	badf := f
	badf.Operation = kmsg.ACLOperationUnknown
	del.Filters = []kmsg.DeleteACLsRequestFilter{badf, f}
	dres := rc.roundTrip(del).(*kmsg.DeleteACLsResponse)
	if dres.Results[0].ErrorCode != kerr.InvalidRequest.Code || dres.Results[1].ErrorCode != 0 || len(dres.Results[1].MatchingACLs) != 1 {
		t.Fatalf("delete: %+v", dres.Results)
	}
	if bs, _, _ := store.ACLs(context.Background()); len(bs) != 0 {
		t.Fatalf("left %v", bs)
	}
}
