// Package cluster answers "which agents exist and which one should a client
// talk to": agent registration with heartbeats in the metadata store, the
// broker list Metadata returns (filtered by the client's zone), nominal
// partition leaders, and rendezvous-hashed ownership of coordinator keys.
package cluster

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Broker is an agent as Kafka clients see it.
type Broker struct {
	NodeID int32
	// Host and Port are the address of the agent's first listener.
	Host string
	Port int32
	Rack *string
	// Listeners are the advertised addresses of each of the agent's
	// listeners, the first one's being Host and Port. Empty means the
	// agent has one listener, at Host and Port.
	Listeners []Endpoint
	// Group is the agent group the agent serves ("" is the default
	// group); clients see only their group's agents.
	Group string
}

// Endpoint is one listener's advertised address.
type Endpoint struct {
	Name string // listener name, e.g. PLAINTEXT or SASL_SSL
	Host string
	Port int32
}

// On returns b with Host and Port set to the address of its listener
// called name. ok is false when b has listeners and none is called name:
// a client that came in on that listener must not be sent to b (Kafka
// leaves such a broker out of Metadata). A broker without listener
// information has one listener and is returned as it is.
func (b Broker) On(name string) (_ Broker, ok bool) {
	if len(b.Listeners) == 0 {
		return b, true
	}
	for _, l := range b.Listeners {
		if l.Name == name {
			b.Host, b.Port = l.Host, l.Port
			return b, true
		}
	}
	return b, false
}

// OnListener returns the brokers that have listener name, each with that
// listener's address (see Broker.On).
func OnListener(brokers []Broker, name string) []Broker {
	out := make([]Broker, 0, len(brokers))
	for _, b := range brokers {
		if lb, ok := b.On(name); ok {
			out = append(out, lb)
		}
	}
	return out
}

// FormatListeners writes endpoints as Kafka's advertised.listeners does:
// "NAME://host:port,NAME://host:port".
func FormatListeners(eps []Endpoint) string {
	parts := make([]string, len(eps))
	for i, e := range eps {
		parts[i] = e.Name + "://" + net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))
	}
	return strings.Join(parts, ",")
}

// ParseListeners parses FormatListeners' output ("" gives none).
func ParseListeners(s string) ([]Endpoint, error) {
	if s == "" {
		return nil, nil
	}
	var out []Endpoint
	for _, part := range strings.Split(s, ",") {
		name, addr, ok := strings.Cut(part, "://")
		if !ok || name == "" {
			return nil, fmt.Errorf("cluster: listener %q is not NAME://host:port", part)
		}
		host, portStr, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("cluster: listener %q: %w", part, err)
		}
		port, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("cluster: listener %q: port: %w", part, err)
		}
		out = append(out, Endpoint{Name: name, Host: host, Port: int32(port)})
	}
	return out, nil
}

// Membership lists the agents a client should see.
type Membership interface {
	// Self is this agent.
	Self() Broker
	// Brokers returns the agents to show a client, never empty, sorted by
	// node ID. clientID lets zone-aware implementations filter.
	Brokers(clientID string) []Broker
}

// Single is the membership of a lone agent.
type Single struct{ Broker Broker }

// Self implements Membership.
func (s Single) Self() Broker { return s.Broker }

// Brokers implements Membership.
func (s Single) Brokers(string) []Broker { return []Broker{s.Broker} }

// Leader picks the nominal leader of a partition among brokers. Any agent
// accepts any write; the nominal leader only spreads client connections.
func Leader(brokers []Broker, topicHash uint32, partition int32) Broker {
	return brokers[(uint64(topicHash)+uint64(partition))%uint64(len(brokers))]
}

// Replicas returns the replica list to report for a partition: its leader
// first, then up to two more agents, so tools that expect three replicas on
// a three-agent cluster see them, and all are always in sync.
func Replicas(brokers []Broker, topicHash uint32, partition int32) []int32 {
	n := min(len(brokers), 3)
	start := (uint64(topicHash) + uint64(partition)) % uint64(len(brokers))
	out := make([]int32, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, brokers[(start+uint64(i))%uint64(len(brokers))].NodeID)
	}
	return out
}
