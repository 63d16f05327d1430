package kafka

// ListPartitionReassignments (key 46), version 0.
//
// Partitions are never reassigned (data lives in the bucket, not on
// agents), so the answer is always an empty list without error. As in
// Kafka, named topics or partitions that do not exist are simply left out
// rather than failing the request (the response has only a top-level error
// code). The timeout is not used.
//
// Authorization: DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleListPartitionReassignments(_ context.Context, req *request, _ *kmsg.ListPartitionReassignmentsRequest) kmsg.Response {
	resp := kmsg.NewPtrListPartitionReassignmentsResponse()
	resp.Version = req.version
	if !s.authorizeCluster(req, kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		s.metrics.errorCode(req.key, resp.ErrorCode)
	}
	return resp
}
