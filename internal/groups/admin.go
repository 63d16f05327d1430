package groups

// Group administration for both group types: DescribeGroups, ListGroups
// and DeleteGroups.

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// MemberDescription describes a member for DescribeGroups.
type MemberDescription struct {
	MemberID   string
	InstanceID *string
	ClientID   string
	ClientHost string
	Metadata   []byte
	Assignment []byte
}

// Description describes a group for DescribeGroups.
type Description struct {
	State        State
	ProtocolType string
	Protocol     string
	Members      []MemberDescription
}

// Describe handles DescribeGroups for one group. Unknown groups are Dead,
// without error, as in Kafka.
func (c *Coordinator) Describe(ctx context.Context, group string) (Description, error) {
	g, err := c.get(ctx, group, false)
	if errors.Is(err, errNoGroup) || asConsumer(err) != nil {
		// Kafka 4 describes consumer groups (KIP-848) only through
		// ConsumerGroupDescribe; DescribeGroups v0-v5 shows them Dead.
		return Description{State: Dead}, nil
	}
	if err != nil {
		return Description{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	d := Description{State: g.state, ProtocolType: g.protocolType}
	if g.state == Stable || g.state == CompletingRebalance {
		d.Protocol = g.protocol
	}
	for _, m := range g.sortedMembersLocked() {
		md := MemberDescription{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost}
		if g.state == Stable {
			md.Assignment = m.assignment
		}
		for _, p := range m.protocols {
			if p.Name == g.protocol {
				md.Metadata = p.Metadata
			}
		}
		d.Members = append(d.Members, md)
	}
	return d, nil
}

// Listing is one group in ListGroups.
type Listing struct {
	Name         string
	ProtocolType string
	State        State
	// Type is "classic" or "consumer" (KIP-848).
	Type string
}

// List handles ListGroups: the groups this agent owns (each agent answers
// for its own, as Kafka brokers do), optionally filtered by state.
func (c *Coordinator) List(ctx context.Context, states []string) ([]Listing, error) {
	all, err := c.store.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", kerr.CoordinatorNotAvailable, err)
	}
	self := c.owners.Self().NodeID
	var out []Listing
	for _, st := range all {
		if c.owners.Owner(st.Name).NodeID != self {
			continue
		}
		l := Listing{Name: st.Name, ProtocolType: st.ProtocolType, State: State(st.State), Type: "classic"}
		if isConsumerSnapshot(st.Snapshot) {
			l.Type = "consumer"
		}
		c.mu.Lock()
		g, cg := c.groups[st.Name], c.cgroups[st.Name]
		c.mu.Unlock()
		if g != nil {
			g.mu.Lock()
			l.State, l.ProtocolType, l.Type = g.state, g.protocolType, "classic"
			g.mu.Unlock()
		} else if cg != nil {
			cg.mu.Lock()
			l.State, l.ProtocolType, l.Type = cg.stateLocked(), "consumer", "consumer"
			cg.mu.Unlock()
		}
		if len(states) > 0 && !containsFold(states, string(l.State)) {
			continue
		}
		out = append(out, l)
	}
	return out, nil
}

func containsFold(ss []string, s string) bool {
	for _, x := range ss {
		if len(x) == len(s) && (x == s || equalFold(x, s)) {
			return true
		}
	}
	return false
}

func equalFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		ca, cb := a[i]|0x20, b[i]|0x20
		if ca != cb {
			return false
		}
	}
	return true
}

// Delete handles DeleteGroups for one group: only groups without members
// can be deleted.
func (c *Coordinator) Delete(ctx context.Context, group string) error {
	g, err := c.get(ctx, group, false)
	if errors.Is(err, errNoGroup) {
		return kerr.GroupIDNotFound
	}
	var epoch int64
	if cg := asConsumer(err); cg != nil {
		cg.mu.Lock()
		n := len(cg.members)
		epoch = cg.ownerEpoch
		cg.mu.Unlock()
		if n > 0 {
			return kerr.NonEmptyGroup
		}
	} else if err != nil {
		return err
	} else {
		g.mu.Lock()
		n := len(g.members)
		epoch = g.epoch
		g.mu.Unlock()
		if n > 0 {
			return kerr.NonEmptyGroup
		}
	}
	if err := c.store.DeleteGroup(ctx, group, epoch); err != nil {
		return c.storeErr(group, err)
	}
	c.drop(group)
	return nil
}
