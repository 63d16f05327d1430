package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiRange is the version range of one supported API.
type apiRange struct{ min, max int16 }

const apiVersionsKey = 18

// supported lists every API this agent serves, with the versions it serves.
// ApiVersions advertises exactly this table; requests outside it close the
// connection (ApiVersions gets the KIP-511 fallback answer instead). Each
// handler file's opening comment explains its range.
var supported = map[int16]apiRange{
	0:  {3, 12}, // Produce
	1:  {4, 18}, // Fetch
	2:  {1, 6},  // ListOffsets
	3:  {0, 13}, // Metadata
	8:  {0, 9},  // OffsetCommit
	9:  {0, 9},  // OffsetFetch
	10: {0, 6},  // FindCoordinator
	11: {0, 9},  // JoinGroup
	12: {0, 4},  // Heartbeat
	13: {0, 5},  // LeaveGroup
	14: {0, 5},  // SyncGroup
	15: {0, 5},  // DescribeGroups
	16: {0, 5},  // ListGroups
	17: {0, 1},  // SaslHandshake
	18: {0, 5},  // ApiVersions
	19: {2, 7},  // CreateTopics
	20: {1, 6},  // DeleteTopics
	21: {0, 2},  // DeleteRecords
	22: {0, 5},  // InitProducerID
	23: {0, 4},  // OffsetForLeaderEpoch
	24: {0, 5},  // AddPartitionsToTxn
	25: {0, 4},  // AddOffsetsToTxn
	26: {0, 5},  // EndTxn
	28: {0, 5},  // TxnOffsetCommit
	29: {0, 3},  // DescribeAcls
	30: {0, 3},  // CreateAcls
	31: {0, 3},  // DeleteAcls
	32: {0, 4},  // DescribeConfigs
	33: {0, 2},  // AlterConfigs
	35: {0, 5},  // DescribeLogDirs
	36: {0, 2},  // SaslAuthenticate
	37: {0, 3},  // CreatePartitions
	42: {0, 3},  // DeleteGroups
	43: {0, 2},  // ElectLeaders
	44: {0, 1},  // IncrementalAlterConfigs
	46: {0, 0},  // ListPartitionReassignments
	47: {0, 0},  // OffsetDelete
	48: {0, 1},  // DescribeClientQuotas
	49: {0, 1},  // AlterClientQuotas
	50: {0, 0},  // DescribeUserScramCredentials
	51: {0, 0},  // AlterUserScramCredentials
	60: {0, 2},  // DescribeCluster
	61: {0, 0},  // DescribeProducers
	65: {0, 0},  // DescribeTransactions
	66: {0, 2},  // ListTransactions
	68: {0, 1},  // ConsumerGroupHeartbeat
	69: {0, 1},  // ConsumerGroupDescribe
}

// dispatch routes a decoded request to its handler.
func (s *Server) dispatch(ctx context.Context, req *request) reply {
	switch m := req.msg.(type) {
	case *kmsg.ProduceRequest:
		return s.handleProduce(ctx, req, m)
	case *kmsg.FetchRequest:
		return s.handleFetch(ctx, req, m)
	case *kmsg.ListOffsetsRequest:
		return ready(s.handleListOffsets(ctx, req, m))
	case *kmsg.MetadataRequest:
		return ready(s.handleMetadata(ctx, req, m))
	case *kmsg.SASLHandshakeRequest:
		return s.handleSaslHandshake(ctx, req, m)
	case *kmsg.SASLAuthenticateRequest:
		return s.handleSaslAuthenticate(ctx, req, m)
	case *kmsg.DescribeUserSCRAMCredentialsRequest:
		return ready(s.handleDescribeUserScramCredentials(ctx, req, m))
	case *kmsg.AlterUserSCRAMCredentialsRequest:
		return ready(s.handleAlterUserScramCredentials(ctx, req, m))
	case *kmsg.ApiVersionsRequest:
		return ready(s.handleApiVersions(req, m))
	case *kmsg.CreateTopicsRequest:
		return ready(s.handleCreateTopics(ctx, req, m))
	case *kmsg.DeleteTopicsRequest:
		return ready(s.handleDeleteTopics(ctx, req, m))
	case *kmsg.DeleteRecordsRequest:
		return ready(s.handleDeleteRecords(ctx, req, m))
	case *kmsg.InitProducerIDRequest:
		// May write transaction markers: answered off the read loop.
		return reply{wait: func() kmsg.Response { return s.handleInitProducerID(ctx, req, m) }}
	case *kmsg.FindCoordinatorRequest:
		return ready(s.handleFindCoordinator(ctx, req, m))
	case *kmsg.JoinGroupRequest:
		return s.handleJoinGroup(ctx, req, m)
	case *kmsg.SyncGroupRequest:
		return s.handleSyncGroup(ctx, req, m)
	case *kmsg.HeartbeatRequest:
		return ready(s.handleHeartbeat(ctx, req, m))
	case *kmsg.LeaveGroupRequest:
		return ready(s.handleLeaveGroup(ctx, req, m))
	case *kmsg.OffsetCommitRequest:
		return ready(s.handleOffsetCommit(ctx, req, m))
	case *kmsg.OffsetFetchRequest:
		return ready(s.handleOffsetFetch(ctx, req, m))
	case *kmsg.DescribeGroupsRequest:
		return ready(s.handleDescribeGroups(ctx, req, m))
	case *kmsg.ListGroupsRequest:
		return ready(s.handleListGroups(ctx, req, m))
	case *kmsg.DeleteGroupsRequest:
		return ready(s.handleDeleteGroups(ctx, req, m))
	case *kmsg.OffsetDeleteRequest:
		return ready(s.handleOffsetDelete(ctx, req, m))
	case *kmsg.DescribeClientQuotasRequest:
		return ready(s.handleDescribeClientQuotas(ctx, req, m))
	case *kmsg.AlterClientQuotasRequest:
		return ready(s.handleAlterClientQuotas(ctx, req, m))
	case *kmsg.ConsumerGroupHeartbeatRequest:
		return ready(s.handleConsumerGroupHeartbeat(ctx, req, m))
	case *kmsg.ConsumerGroupDescribeRequest:
		return ready(s.handleConsumerGroupDescribe(ctx, req, m))
	case *kmsg.DescribeConfigsRequest:
		return ready(s.handleDescribeConfigs(ctx, req, m))
	case *kmsg.AlterConfigsRequest:
		return ready(s.handleAlterConfigs(ctx, req, m))
	case *kmsg.IncrementalAlterConfigsRequest:
		return ready(s.handleIncrementalAlterConfigs(ctx, req, m))
	case *kmsg.CreatePartitionsRequest:
		return ready(s.handleCreatePartitions(ctx, req, m))
	case *kmsg.DescribeClusterRequest:
		return ready(s.handleDescribeCluster(ctx, req, m))
	case *kmsg.OffsetForLeaderEpochRequest:
		return ready(s.handleOffsetForLeaderEpoch(ctx, req, m))
	case *kmsg.DescribeLogDirsRequest:
		return ready(s.handleDescribeLogDirs(ctx, req, m))
	case *kmsg.ElectLeadersRequest:
		return ready(s.handleElectLeaders(ctx, req, m))
	case *kmsg.AddPartitionsToTxnRequest:
		// May write transaction markers: answered off the read loop.
		return reply{wait: func() kmsg.Response { return s.handleAddPartitionsToTxn(ctx, req, m) }}
	case *kmsg.AddOffsetsToTxnRequest:
		// May write transaction markers: answered off the read loop.
		return reply{wait: func() kmsg.Response { return s.handleAddOffsetsToTxn(ctx, req, m) }}
	case *kmsg.EndTxnRequest:
		// May write transaction markers: answered off the read loop.
		return reply{wait: func() kmsg.Response { return s.handleEndTxn(ctx, req, m) }}
	case *kmsg.TxnOffsetCommitRequest:
		return ready(s.handleTxnOffsetCommit(ctx, req, m))
	case *kmsg.DescribeACLsRequest:
		return ready(s.handleDescribeACLs(ctx, req, m))
	case *kmsg.CreateACLsRequest:
		return ready(s.handleCreateACLs(ctx, req, m))
	case *kmsg.DeleteACLsRequest:
		return ready(s.handleDeleteACLs(ctx, req, m))
	case *kmsg.DescribeTransactionsRequest:
		return ready(s.handleDescribeTransactions(ctx, req, m))
	case *kmsg.ListTransactionsRequest:
		return ready(s.handleListTransactions(ctx, req, m))
	case *kmsg.DescribeProducersRequest:
		return ready(s.handleDescribeProducers(ctx, req, m))
	case *kmsg.ListPartitionReassignmentsRequest:
		return ready(s.handleListPartitionReassignments(ctx, req, m))
	}
	// decode only lets through keys in supported, all handled above.
	panic("kafka: no handler for " + kmsg.NameForKey(req.key))
}
