// Package cluster answers "which agents exist and which one should a client
// talk to": agent registration with heartbeats in the metadata store, the
// broker list Metadata returns (filtered by the client's zone), nominal
// partition leaders, and rendezvous-hashed ownership of coordinator keys.
package cluster

// Broker is an agent as Kafka clients see it.
type Broker struct {
	NodeID int32
	Host   string
	Port   int32
	Rack   *string
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
