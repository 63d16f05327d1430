package kafka

// DescribeCluster (key 60), versions 0-2.
//
// The cluster ID is the one the metadata store created once, so it is the
// same on every agent and across restarts. Brokers are the live agents the
// client should see, as in Metadata (zone-filtered, sorted by node ID), and
// none is ever fenced; the controller is the lowest live node ID, since
// Sluice has no controller and clients only need a reachable node. Only the
// broker endpoint type exists: asking for controllers (v1+ endpoint type
// 2) gets UNSUPPORTED_ENDPOINT_TYPE, as from a Kafka broker. Authorized
// operations are not computed and report Kafka's "not requested" value.
//
// No authorization, as in Kafka; the cluster's authorized operations
// (KIP-430) are filled in when requested.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/acl"
)

func (s *Server) handleDescribeCluster(_ context.Context, req *request, m *kmsg.DescribeClusterRequest) kmsg.Response {
	resp := kmsg.NewPtrDescribeClusterResponse()
	resp.Version = req.version
	if m.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = s.authorizedOps(req, kmsg.ACLResourceTypeCluster, acl.ClusterName)
	}
	if req.version >= 1 && m.EndpointType != 1 {
		resp.EndpointType = m.EndpointType
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = kmsg.StringPtr("only the broker endpoint type (1) is served")
		s.metrics.errorCode(req.key, resp.ErrorCode)
		return resp
	}
	resp.ClusterID = s.cluster
	brokers := s.brokersFor(req)
	resp.ControllerID = brokers[0].NodeID
	for _, b := range brokers {
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port, rb.Rack = b.NodeID, b.Host, b.Port, b.Rack
		resp.Brokers = append(resp.Brokers, rb)
	}
	return resp
}
