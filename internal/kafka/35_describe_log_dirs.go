package kafka

// DescribeLogDirs (key 35), versions 0-5 (v5: the dir is never cordoned,
// KIP-1066).
//
// Sluice has one "log dir": the bucket, named by its URL without
// credentials or query (Config.LogDir). Every agent reports every
// partition in it, since every agent serves every partition. A
// partition's size is the bytes its committed extents occupy in the
// bucket (batch bytes, without file footers); partitions that never
// committed data report 0. Offset lag is always 0 and no partition is
// "future". Requested topics or partitions that do not exist are left out,
// as a Kafka broker leaves out partitions it does not host. Total and
// usable bytes (v4+) are -1: object storage has no fixed capacity.
//
// Authorization: DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED in
// v3+; no log dirs before).

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/metadata"
)

func (s *Server) handleDescribeLogDirs(ctx context.Context, req *request, m *kmsg.DescribeLogDirsRequest) kmsg.Response {
	resp := kmsg.NewPtrDescribeLogDirsResponse()
	resp.Version = req.version
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = s.cfg.LogDir
	dir.TotalBytes, dir.UsableBytes = -1, -1
	if !s.authorizeCluster(req, kmsg.ACLOperationDescribe) {
		// v3+ carries the error; older versions get no log dirs, as
		// from Kafka.
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		s.metrics.errorCode(req.key, resp.ErrorCode)
		return resp
	}

	type want struct {
		topic      metadata.Topic
		partitions []int32 // nil: all
	}
	var wants []want
	if m.Topics == nil {
		list, err := s.topics.ListTopics(ctx)
		if err != nil {
			dir.ErrorCode = errorCode(err)
			s.metrics.errorCode(req.key, dir.ErrorCode)
			resp.Dirs = append(resp.Dirs, dir)
			return resp
		}
		for _, t := range list {
			if !s.ktopics.isVirtual(t.ID) { // nothing of theirs is stored
				wants = append(wants, want{topic: t})
			}
		}
	} else {
		for _, rt := range m.Topics {
			t, err := s.topics.Topic(ctx, rt.Topic)
			if err != nil {
				continue
			}
			wants = append(wants, want{topic: t, partitions: rt.Partitions})
		}
	}
	for _, w := range wants {
		sizes, err := s.log.PartitionBytes(ctx, w.topic.ID)
		if err != nil {
			dir.ErrorCode = errorCode(err)
			dir.Topics = nil
			s.metrics.errorCode(req.key, dir.ErrorCode)
			break
		}
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = w.topic.Name
		for p := int32(0); p < w.topic.Partitions; p++ {
			if w.partitions != nil && !slices.Contains(w.partitions, p) {
				continue
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition = p
			dp.Size = sizes[p]
			dt.Partitions = append(dt.Partitions, dp)
		}
		if len(dt.Partitions) > 0 {
			dir.Topics = append(dir.Topics, dt)
		}
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp
}
