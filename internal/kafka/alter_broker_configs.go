package kafka

// Dynamic broker configs through AlterConfigs (33) and
// IncrementalAlterConfigs (44).
//
// The resource is the cluster-wide default ("") or this agent's node ID
// (another ID is INVALID_REQUEST, as a Kafka broker answers for a resource
// sent to the wrong broker). Configs must be known broker configs that
// Kafka lets change at run time (dynconfig.BrokerConfigs; unknown names
// and read-only ones are INVALID_CONFIG, the latter with Kafka's "Cannot
// update these configs dynamically"), values are checked as the topic
// config they default (message.max.bytes as max.message.bytes, …), APPEND
// and SUBTRACT work on list configs only (log.cleanup.policy). One
// resource's change is one compare-and-set of the metadata store's dynamic
// configs; validate_only changes nothing. Every agent applies it within
// its poll interval, this one at once. Deviation: Kafka stores broker
// configs it does not know; Sluice refuses them.

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/dynconfig"
	"github.com/sluicehq/sluice/internal/topics"
)

func (s *Server) alterBrokerConfigs(ctx context.Context, name string, ops []configOp, replace, validateOnly bool) error {
	if name != "" {
		self := s.members.Self().NodeID
		if id, err := strconv.ParseInt(name, 10, 32); err != nil || int32(id) != self {
			return fmt.Errorf("%w: unexpected broker id, expected %d or empty string, but received %s", kerr.InvalidRequest, self, name)
		}
	}
	names := map[string]bool{}
	for _, o := range ops {
		if err := checkConfigOp(o, names, replace); err != nil {
			return err
		}
		c, ok := dynconfig.LookupBroker(o.name)
		if !ok {
			return fmt.Errorf("%w: unknown broker config name %q", topics.ErrInvalidConfig, o.name)
		}
		if c.Mode == dynconfig.ReadOnly && o.op != kmsg.IncrementalAlterConfigOpDelete {
			return fmt.Errorf("%w: Invalid config value for resource ConfigResource(type=BROKER, name='%s'): Cannot update these configs dynamically: Set(%s)", topics.ErrInvalidConfig, name, o.name)
		}
		if (o.op == kmsg.IncrementalAlterConfigOpAppend || o.op == kmsg.IncrementalAlterConfigOpSubtract) && c.Type != topics.TypeList {
			return fmt.Errorf("%w: config value %s is not allowed for config %s, which is not a list", topics.ErrInvalidConfig, strings.ToLower(o.op.String()), o.name)
		}
	}
	next, err := s.dyn.AlterBroker(ctx, name, validateOnly, func(cur map[string]string) (map[string]string, error) {
		next := cur
		if replace {
			next = map[string]string{}
		}
		for _, o := range ops {
			switch o.op {
			case kmsg.IncrementalAlterConfigOpSet:
				if o.value == nil {
					delete(next, o.name)
					continue
				}
				next[o.name] = *o.value
			case kmsg.IncrementalAlterConfigOpDelete:
				delete(next, o.name)
			case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
				base, ok := next[o.name]
				if !ok {
					base = s.brokerValue(o.name)
				}
				next[o.name] = alterList(base, *o.value, o.op == kmsg.IncrementalAlterConfigOpAppend)
			}
		}
		return next, nil
	})
	if err == nil && !validateOnly {
		s.logger.Info("altered dynamic broker configs", "broker", name, "configs", next)
	}
	return err
}
