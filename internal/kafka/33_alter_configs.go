package kafka

// AlterConfigs (key 33), versions 0-2.
//
// Kafka's legacy, full-replacement form: a topic's explicitly set configs
// become exactly the ones in the request, so configs the request leaves out
// go back to their defaults (a null value also means "not set"). Otherwise
// it follows IncrementalAlterConfigs (44_incremental_alter_configs.go):
// topic resources only, known names and valid values (INVALID_CONFIG with a
// message), a config or resource named twice is INVALID_REQUEST, the change
// is one metadata transaction, validate_only changes nothing, unknown
// topics get UNKNOWN_TOPIC_OR_PARTITION. Broker resources replace the
// resource's dynamic broker configs the same way (alter_broker_configs.go).
//
// Authorization: ALTER_CONFIGS on the topic or, for broker configs, on the
// cluster.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleAlterConfigs(ctx context.Context, req *request, m *kmsg.AlterConfigsRequest) kmsg.Response {
	resp := kmsg.NewPtrAlterConfigsResponse()
	resp.Version = req.version
	dups := duplicateResources(len(m.Resources), func(i int) (kmsg.ConfigResourceType, string) {
		return m.Resources[i].ResourceType, m.Resources[i].ResourceName
	})
	for i, rr := range m.Resources {
		rs := kmsg.NewAlterConfigsResponseResource()
		rs.ResourceType = rr.ResourceType
		rs.ResourceName = rr.ResourceName
		ops := make([]configOp, 0, len(rr.Configs))
		for _, c := range rr.Configs {
			ops = append(ops, configOp{name: c.Name, op: kmsg.IncrementalAlterConfigOpSet, value: c.Value})
		}
		rs.ErrorCode, rs.ErrorMessage = s.alterResource(ctx, req, dups[i], rr.ResourceType, rr.ResourceName, ops, true, m.ValidateOnly)
		resp.Resources = append(resp.Resources, rs)
	}
	return resp
}
