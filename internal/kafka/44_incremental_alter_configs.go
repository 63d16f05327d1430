package kafka

// IncrementalAlterConfigs (key 44), versions 0-1.
//
// Topic resources only. Each config is SET (0), DELETE (1, back to the
// default), APPEND (2) or SUBTRACT (3); APPEND and SUBTRACT work on list
// configs (cleanup.policy, *.replication.throttled.replicas) and start from
// the default when the topic does not set the config, as in Kafka. Names
// must be known topic configs and resulting values valid (INVALID_CONFIG
// with a message); a null value for SET/APPEND/SUBTRACT, an unknown
// operation, a config named twice or a resource named twice is
// INVALID_REQUEST. The change to one topic is one metadata transaction:
// all of its configs change or none do. validate_only runs every check and
// changes nothing. Unknown topics get UNKNOWN_TOPIC_OR_PARTITION.
//
// Broker resources ("" for the cluster-wide default, or this agent's node
// ID; another ID is INVALID_REQUEST) take the dynamic broker configs of
// internal/dynconfig (alter_broker_configs.go); broker logger and other
// resource types get INVALID_REQUEST.
//
// Authorization: ALTER_CONFIGS on the topic or, for broker configs, on the
// cluster.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/topics"
)

// configOp is one requested change to one config.
type configOp struct {
	name  string
	op    kmsg.IncrementalAlterConfigOp
	value *string
}

func (s *Server) handleIncrementalAlterConfigs(ctx context.Context, req *request, m *kmsg.IncrementalAlterConfigsRequest) kmsg.Response {
	resp := kmsg.NewPtrIncrementalAlterConfigsResponse()
	resp.Version = req.version
	dups := duplicateResources(len(m.Resources), func(i int) (kmsg.ConfigResourceType, string) {
		return m.Resources[i].ResourceType, m.Resources[i].ResourceName
	})
	for i, rr := range m.Resources {
		rs := kmsg.NewIncrementalAlterConfigsResponseResource()
		rs.ResourceType = rr.ResourceType
		rs.ResourceName = rr.ResourceName
		ops := make([]configOp, 0, len(rr.Configs))
		for _, c := range rr.Configs {
			ops = append(ops, configOp{name: c.Name, op: c.Op, value: c.Value})
		}
		rs.ErrorCode, rs.ErrorMessage = s.alterResource(ctx, req, dups[i], rr.ResourceType, rr.ResourceName, ops, false, m.ValidateOnly)
		resp.Resources = append(resp.Resources, rs)
	}
	return resp
}

// duplicateResources reports, for each of n resources, whether the request
// names its type and name more than once (INVALID_REQUEST for all copies, as
// in Kafka).
func duplicateResources(n int, key func(int) (kmsg.ConfigResourceType, string)) []bool {
	type k struct {
		typ  kmsg.ConfigResourceType
		name string
	}
	count := make(map[k]int, n)
	for i := 0; i < n; i++ {
		t, name := key(i)
		count[k{t, name}]++
	}
	dup := make([]bool, n)
	for i := range dup {
		t, name := key(i)
		dup[i] = count[k{t, name}] > 1
	}
	return dup
}

// alterResource runs one resource's change for AlterConfigs and
// IncrementalAlterConfigs and returns the error code and message to answer.
func (s *Server) alterResource(ctx context.Context, req *request, dup bool, typ kmsg.ConfigResourceType, name string, ops []configOp, replace, validateOnly bool) (int16, *string) {
	var err error
	if dup {
		err = fmt.Errorf("%w: duplicate resource %s in the request", kerr.InvalidRequest, name)
	} else if err = s.authorizeConfigs(req, kmsg.ACLOperationAlterConfigs, typ, name); err == nil {
		err = s.alterConfigs(ctx, typ, name, ops, replace, validateOnly)
	}
	if err == nil {
		return 0, nil
	}
	code := metadataErrorCode(err)
	s.metrics.errorCode(req.key, code)
	return code, errorMessage(err)
}

// authorizeConfigs checks op (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a
// config resource: a topic's on the topic (TOPIC_AUTHORIZATION_FAILED), a
// broker's on the cluster (CLUSTER_AUTHORIZATION_FAILED), as Kafka.
func (s *Server) authorizeConfigs(req *request, op kmsg.ACLOperation, typ kmsg.ConfigResourceType, name string) error {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if !s.authorizeTopic(req, op, name) {
			return kerr.TopicAuthorizationFailed
		}
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		if !s.authorizeCluster(req, op) {
			return kerr.ClusterAuthorizationFailed
		}
	}
	return nil
}

// alterConfigs applies ops to a resource. With replace (AlterConfigs), the
// topic's configs become exactly the SET ops.
func (s *Server) alterConfigs(ctx context.Context, typ kmsg.ConfigResourceType, name string, ops []configOp, replace, validateOnly bool) error {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
	case kmsg.ConfigResourceTypeBroker:
		return s.alterBrokerConfigs(ctx, name, ops, replace, validateOnly)
	case kmsg.ConfigResourceTypeBrokerLogger:
		return fmt.Errorf("%w: broker loggers cannot be updated dynamically", kerr.InvalidRequest)
	default:
		return fmt.Errorf("%w: unsupported resource type %v", kerr.InvalidRequest, typ)
	}
	if err := topics.ValidateName(name); err != nil {
		return err
	}
	names := map[string]bool{}
	for _, o := range ops {
		if err := checkConfigOp(o, names, replace); err != nil {
			return err
		}
		c, ok := topics.Lookup(o.name)
		if !ok {
			return fmt.Errorf("%w: unknown topic config name %q", topics.ErrInvalidConfig, o.name)
		}
		if (o.op == kmsg.IncrementalAlterConfigOpAppend || o.op == kmsg.IncrementalAlterConfigOpSubtract) && c.Type != topics.TypeList {
			return fmt.Errorf("%w: config value %s is not allowed for config %s, which is not a list", topics.ErrInvalidConfig, strings.ToLower(o.op.String()), o.name)
		}
	}
	apply := func(cur map[string]string) (map[string]string, error) {
		next := map[string]string{}
		if !replace {
			for k, v := range cur {
				next[k] = v
			}
		}
		for _, o := range ops {
			switch o.op {
			case kmsg.IncrementalAlterConfigOpSet:
				if o.value == nil { // AlterConfigs: a null value removes
					delete(next, o.name)
					continue
				}
				next[o.name] = *o.value
			case kmsg.IncrementalAlterConfigOpDelete:
				delete(next, o.name)
			case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
				next[o.name] = alterList(topics.Value(next, o.name), *o.value, o.op == kmsg.IncrementalAlterConfigOpAppend)
			}
		}
		for _, o := range ops {
			if v, ok := next[o.name]; ok {
				if err := topics.ValidateConfig(o.name, v); err != nil {
					return nil, err
				}
			}
		}
		if err := topics.ValidateChange(cur, next); err != nil {
			return nil, err
		}
		if err := topics.ValidateConfigs(next); err != nil {
			return nil, err
		}
		return next, nil
	}
	if isKafkaInternal(name) {
		return errInternalTopicChange
	}
	if validateOnly {
		t, err := s.topics.Topic(ctx, name)
		if err != nil {
			return err
		}
		_, err = apply(t.Configs)
		return err
	}
	t, err := s.topics.AlterTopicConfigs(ctx, name, apply)
	if err == nil {
		s.logger.Info("altered topic configs", "topic", name, "configs", t.Configs)
	}
	return err
}

// alterList appends items to (or subtracts them from) a comma-separated
// list, keeping order and skipping duplicates.
func alterList(current, items string, add bool) string {
	split := func(v string) []string {
		var out []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	list := split(current)
	for _, it := range split(items) {
		i := slices.Index(list, it)
		switch {
		case add && i < 0:
			list = append(list, it)
		case !add && i >= 0:
			list = slices.Delete(list, i, i+1)
		}
	}
	return strings.Join(list, ",")
}

// checkConfigOp refuses a config named twice in one resource (seen
// collects the names), an unknown operation, and a null value where one
// is needed (not in AlterConfigs, whose full replacement deletes it).
func checkConfigOp(o configOp, seen map[string]bool, replace bool) error {
	if seen[o.name] {
		return fmt.Errorf("%w: config %s appears more than once", kerr.InvalidRequest, o.name)
	}
	seen[o.name] = true
	switch o.op {
	case kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
		if o.value == nil && !replace {
			return fmt.Errorf("%w: null value not supported for %s", kerr.InvalidRequest, o.name)
		}
	case kmsg.IncrementalAlterConfigOpDelete:
	default:
		return fmt.Errorf("%w: unknown operation %d for config %s", kerr.InvalidRequest, o.op, o.name)
	}
	return nil
}
