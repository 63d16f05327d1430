package kafka

// ConsumerGroupDescribe (key 69), versions 0-1.
//
// Describes KIP-848 consumer groups: state (Empty, Assigning, Reconciling,
// Stable), group and assignment epochs, the assignor, and each member's
// subscription, epoch, current and target assignment (member type
// "consumer" in v1). Unknown groups and classic groups get
// GROUP_ID_NOT_FOUND with Kafka's messages, groups coordinated elsewhere
// NOT_COORDINATOR. Authorized operations are not computed and report
// Kafka's "not requested" value.
//
// Authorization: DESCRIBE on each group (GROUP_AUTHORIZATION_FAILED);
// authorized operations (KIP-430) are filled in when requested.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/groups"
)

func (s *Server) handleConsumerGroupDescribe(ctx context.Context, req *request, m *kmsg.ConsumerGroupDescribeRequest) kmsg.Response {
	resp := kmsg.NewPtrConsumerGroupDescribeResponse()
	resp.Version = req.version
	for _, name := range m.Groups {
		rg := kmsg.NewConsumerGroupDescribeResponseGroup()
		rg.Group = name
		if !s.authorizeGroup(req, kmsg.ACLOperationDescribe, name) {
			rg.ErrorCode = kerr.GroupAuthorizationFailed.Code
			s.metrics.errorCode(req.key, rg.ErrorCode)
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		if m.IncludeAuthorizedOperations {
			rg.AuthorizedOperations = s.authorizedOps(req, kmsg.ACLResourceTypeGroup, name)
		}
		d, err := s.groups.DescribeConsumerGroup(ctx, name)
		if err != nil {
			rg.ErrorCode = groupErrorCode(err)
			rg.ErrorMessage = errorMessage(err)
			s.metrics.errorCode(req.key, rg.ErrorCode)
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		rg.State, rg.Epoch, rg.AssignmentEpoch, rg.AssignorName = string(d.State), d.Epoch, d.AssignmentEpoch, d.Assignor
		for _, md := range d.Members {
			rm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
			rm.MemberID, rm.InstanceID, rm.RackID, rm.MemberEpoch = md.MemberID, md.InstanceID, md.RackID, md.MemberEpoch
			rm.ClientID, rm.ClientHost = md.ClientID, md.ClientHost
			rm.SubscribedTopics, rm.SubscribedTopicRegex = md.SubscribedTopicNames, md.SubscribedTopicRegex
			rm.Assignment = describeAssignment(md.Assignment)
			rm.TargetAssignment = describeAssignment(md.TargetAssignment)
			rm.MemberType = 1 // consumer protocol
			rg.Members = append(rg.Members, rm)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

func describeAssignment(ts []groups.TopicIDPartitions) kmsg.Assignment {
	a := kmsg.NewAssignment()
	a.TopicPartitions = []kmsg.AssignmentTopicPartition{}
	for _, t := range ts {
		at := kmsg.NewAssignmentTopicPartition()
		at.TopicID, at.Topic, at.Partitions = t.TopicID, t.Topic, t.Partitions
		a.TopicPartitions = append(a.TopicPartitions, at)
	}
	return a
}
