package kafka

// ElectLeaders (key 43), versions 0-2.
//
// Sluice has no leader elections: every agent accepts every partition and
// each partition's nominal leader is already its preferred one, so every
// named partition gets ELECTION_NOT_NEEDED, for both election types.
// Unknown topics and partitions get UNKNOWN_TOPIC_OR_PARTITION. A request
// for all partitions (null topics) answers with no partitions, as Kafka
// leaves out partitions that needed no election in that case. Election
// types other than preferred (0) and unclean (1) are INVALID_REQUEST. The
// timeout is not used.
//
// Authorization: ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
)

func (s *Server) handleElectLeaders(ctx context.Context, req *request, m *kmsg.ElectLeadersRequest) kmsg.Response {
	resp := kmsg.NewPtrElectLeadersResponse()
	resp.Version = req.version
	if m.ElectionType != 0 && m.ElectionType != 1 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		s.metrics.errorCode(req.key, resp.ErrorCode)
		return resp
	}
	clusterDenied := !s.authorizeCluster(req, kmsg.ACLOperationAlter)
	if clusterDenied {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		s.metrics.errorCode(req.key, resp.ErrorCode)
	}
	for _, rt := range m.Topics {
		ts := kmsg.NewElectLeadersResponseTopic()
		ts.Topic = rt.Topic
		var (
			t   metadata.Topic
			err error = kerr.ClusterAuthorizationFailed
		)
		if !clusterDenied {
			t, err = s.topics.Topic(ctx, rt.Topic)
		}
		for _, p := range rt.Partitions {
			ps := kmsg.NewElectLeadersResponseTopicPartition()
			ps.Partition = p
			switch {
			case clusterDenied:
				ps.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			case err != nil:
				ps.ErrorCode = errorCode(err)
			case p < 0 || p >= t.Partitions:
				ps.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				ps.ErrorCode = kerr.ElectionNotNeeded.Code
				ps.ErrorMessage = kmsg.StringPtr("every agent serves every partition; there is no leader to elect")
			}
			if ps.ErrorCode != kerr.ElectionNotNeeded.Code {
				ps.ErrorMessage = kmsg.StringPtr(kerr.ErrorForCode(ps.ErrorCode).Error())
			}
			s.metrics.errorCode(req.key, ps.ErrorCode)
			ts.Partitions = append(ts.Partitions, ps)
		}
		resp.Topics = append(resp.Topics, ts)
	}
	return resp
}
