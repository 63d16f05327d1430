package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"hash/fnv"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/metadata"
)

// Registry keeps this agent registered in the metadata store and caches the
// set of live agents. It implements Membership and answers which agent owns
// a key (a consumer group, a transactional ID) by rendezvous hashing over
// the live agents, so ownership moves only for the keys of agents that come
// or go.
type Registry struct {
	store    metadata.Agents
	self     Broker
	zone     string
	instance string
	interval time.Duration
	ttl      time.Duration
	logger   *slog.Logger

	// peerAddr is where this agent serves its block cache to its zone
	// ("" when it does not); set before Start.
	peerAddr string
	// roles and group are this agent's roles and agent group (SetRoles,
	// SetGroup); set before Start.
	roles Roles
	group string

	mu sync.RWMutex // guards live, peers, hidden, jobsAgents and noJobsWarned
	// live are the live proxy agents of every agent group, sorted by node
	// ID; it contains self unless hidden or not a proxy.
	live []Broker
	// jobsAgents counts the live agents with the jobs role; noJobsWarned
	// is when the registry last warned that there are none (zero while
	// there are some).
	jobsAgents   int
	noJobsWarned time.Time
	// firstBeat is when this registry first loaded the live set: it does
	// not warn about missing jobs agents for a TTL after it, while the
	// cluster's agents are still starting.
	firstBeat time.Time
	// now is the clock of the warnings (time.Now; tests replace it).
	now func() time.Time
	// hidden withdraws this agent from the advertised set while other
	// agents are live (SetAdvertised).
	hidden bool
	// peers are the live agents of this agent's zone that serve their
	// cache, sorted by node ID (self included when it serves).
	peers []ZonePeer

	stop context.CancelFunc
	done chan struct{}
}

// NewRegistry returns a registry for self. Agents heartbeat every interval
// and are live while their last heartbeat is younger than ttl.
func NewRegistry(store metadata.Agents, self Broker, zone string, interval, ttl time.Duration, logger *slog.Logger) *Registry {
	var inst [8]byte
	rand.Read(inst[:])
	if zone != "" {
		self.Rack = &zone
	}
	return &Registry{store: store, self: self, zone: zone, instance: hex.EncodeToString(inst[:]),
		interval: interval, ttl: ttl, logger: logger, live: []Broker{self}, roles: DefaultRoles, jobsAgents: 1, now: time.Now}
}

// SetRoles sets the roles this agent registers with (DefaultRoles
// unless set); call it before Start. An agent without the proxy role is
// never among the brokers clients see nor a coordinator.
func (r *Registry) SetRoles(roles Roles) {
	r.roles = roles
	r.live, r.jobsAgents = nil, 0
	if roles.Proxy {
		r.live = []Broker{r.self}
	}
	if roles.Jobs {
		r.jobsAgents = 1
	}
}

// SetGroup sets the agent group this agent serves ("" is the default
// group); call it before Start.
func (r *Registry) SetGroup(group string) {
	r.group = group
	r.self.Group = group
	if r.roles.Proxy {
		r.live = []Broker{r.self}
	}
}

// JobsAgents returns how many live agents have the jobs role, as of the
// last heartbeat.
func (r *Registry) JobsAgents() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.jobsAgents
}

// noJobsWarnEvery is how often a registry repeats its warning that no
// live agent runs the background jobs.
const noJobsWarnEvery = time.Minute

// ZonePeer is a live agent of this agent's zone serving its block cache.
type ZonePeer struct {
	NodeID int32
	Addr   string
}

// AdvertisePeer sets the address this agent serves its block cache to zone
// peers on; call it before Start.
func (r *Registry) AdvertisePeer(addr string) { r.peerAddr = addr }

// ZonePeers returns the live agents of this agent's zone that serve their
// block cache (self included when it does), as of the last heartbeat.
func (r *Registry) ZonePeers() []ZonePeer {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.peers
}

// Start registers this agent, loads the live set, and keeps both fresh in
// the background until Stop.
func (r *Registry) Start(ctx context.Context) error {
	if err := r.beat(ctx); err != nil {
		return err
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		t := time.NewTicker(r.interval)
		defer t.Stop()
		for {
			select {
			case <-loopCtx.Done():
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(loopCtx, r.interval*2)
				if err := r.beat(ctx); err != nil && loopCtx.Err() == nil {
					r.logger.Warn("agent heartbeat failed", "err", err)
				}
				cancel()
			}
		}
	}()
	return nil
}

// Refresh heartbeats and reloads the live set now, rather than at the next
// interval.
func (r *Registry) Refresh(ctx context.Context) error { return r.beat(ctx) }

// SetAdvertised withdraws this agent from the agents clients see (false)
// or brings it back (true), from the next heartbeat on: an agent that
// cannot serve (its bucket fails) stops heartbeating and removes its
// registration, so every agent's Metadata responses and coordinator
// ownership leave it out. A lone agent stays advertised: clients have no
// other agent to go to, and its retriable errors are the best answer.
func (r *Registry) SetAdvertised(on bool) {
	r.mu.Lock()
	r.hidden = !on
	r.mu.Unlock()
}

func (r *Registry) beat(ctx context.Context) error {
	r.mu.RLock()
	hidden := r.hidden
	r.mu.RUnlock()
	if hidden {
		agents, err := r.store.LiveAgents(ctx, r.ttl)
		if err != nil {
			return err
		}
		others := make([]metadata.Agent, 0, len(agents))
		for _, a := range agents {
			if a.NodeID != r.self.NodeID {
				others = append(others, a)
			}
		}
		if len(others) > 0 {
			if err := r.store.RemoveAgent(ctx, r.self.NodeID, r.instance); err != nil {
				return err
			}
			r.setLive(others, false)
			return nil
		}
	}
	if err := r.store.HeartbeatAgent(ctx, metadata.Agent{NodeID: r.self.NodeID, Host: r.self.Host, Port: r.self.Port, Zone: r.zone, Instance: r.instance, PeerAddr: r.peerAddr,
		Listeners: FormatListeners(r.self.Listeners), Roles: r.roles.String(), Group: r.group}); err != nil {
		return err
	}
	agents, err := r.store.LiveAgents(ctx, r.ttl)
	if err != nil {
		return err
	}
	r.setLive(agents, true)
	return nil
}

// setLive installs the live set loaded from the store, with this agent in
// it when withSelf.
func (r *Registry) setLive(agents []metadata.Agent, withSelf bool) {
	live := make([]Broker, 0, len(agents)+1)
	sawSelf := false
	jobsAgents := 0
	var peers []ZonePeer
	for _, a := range agents {
		roles := registeredRoles(a.Roles)
		if a.NodeID == r.self.NodeID && a.Instance == r.instance {
			roles = r.roles
		}
		if roles.Jobs {
			jobsAgents++
		}
		if a.Zone == r.zone && a.Group == r.group && a.PeerAddr != "" && (a.NodeID != r.self.NodeID || a.Instance == r.instance) {
			peers = append(peers, ZonePeer{NodeID: a.NodeID, Addr: a.PeerAddr})
		}
		if a.NodeID == r.self.NodeID {
			if a.Instance != r.instance {
				// Heartbeats overwrite each other: two agents share a node ID.
				r.logger.Error("another agent registered with this agent's node ID; give each agent its own --node-id",
					"node_id", a.NodeID, "other", net.JoinHostPort(a.Host, strconv.Itoa(int(a.Port))))
			}
			sawSelf = true
			if r.roles.Proxy {
				live = append(live, r.self)
			}
			continue
		}
		if !roles.Proxy {
			continue
		}
		b := Broker{NodeID: a.NodeID, Host: a.Host, Port: a.Port, Group: a.Group}
		if eps, err := ParseListeners(a.Listeners); err != nil {
			r.logger.Warn("agent registered unreadable listeners; using its first address for every listener", "node_id", a.NodeID, "err", err)
		} else {
			b.Listeners = eps
		}
		if a.Zone != "" {
			zone := a.Zone
			b.Rack = &zone
		}
		live = append(live, b)
	}
	if !sawSelf && withSelf && r.roles.Proxy {
		live = append(live, r.self)
		sortBrokers(live)
	}
	if !sawSelf && r.roles.Jobs {
		jobsAgents++ // withdrawn from the registry, still running its jobs
	}
	r.mu.Lock()
	r.live = live
	r.peers = peers
	r.jobsAgents = jobsAgents
	warn, now := false, r.now()
	if r.firstBeat.IsZero() {
		r.firstBeat = now
	}
	if jobsAgents > 0 {
		r.noJobsWarned = time.Time{}
	} else if now.Sub(r.firstBeat) >= r.ttl && (r.noJobsWarned.IsZero() || now.Sub(r.noJobsWarned) >= noJobsWarnEvery) {
		r.noJobsWarned, warn = now, true
	}
	r.mu.Unlock()
	if warn {
		r.logger.Warn("no live agent has the jobs role: retention, compaction and file deletion are not running; start an agent with --roles including jobs")
	}
}

func sortBrokers(bs []Broker) {
	for i := 1; i < len(bs); i++ {
		for j := i; j > 0 && bs[j].NodeID < bs[j-1].NodeID; j-- {
			bs[j], bs[j-1] = bs[j-1], bs[j]
		}
	}
}

// Stop ends the heartbeat loop and removes this agent's entry, so others
// take over its keys without waiting for the TTL.
func (r *Registry) Stop(ctx context.Context) error {
	if r.stop != nil {
		r.stop()
		<-r.done
	}
	return r.store.RemoveAgent(ctx, r.self.NodeID, r.instance)
}

// Self implements Membership.
func (r *Registry) Self() Broker { return r.self }

// Brokers implements Membership: the live proxy agents of the client's
// agent group (see ClientGroup), and of those only the ones of the client's
// zone when its client ID names one (see ClientZone) and that zone has live
// agents; a client of a zone without agents sees its group's agents rather
// than none.
func (r *Registry) Brokers(clientID string) []Broker {
	r.mu.RLock()
	live := r.live
	r.mu.RUnlock()
	return InZone(r.inClientGroup(live, clientID), ClientZone(clientID))
}

// inClientGroup returns the brokers of the client's agent group: the one
// its client ID names when that group has live agents, else this agent's
// group; all of them when neither has any (this agent withdrawn and alone
// in its group), so a client always sees some agent.
func (r *Registry) inClientGroup(brokers []Broker, clientID string) []Broker {
	if g, ok := ClientGroup(clientID); ok && g != r.group {
		if out := InGroup(brokers, g); len(out) > 0 {
			return out
		}
	}
	if out := InGroup(brokers, r.group); len(out) > 0 {
		return out
	}
	return brokers
}

// InGroup returns the brokers of agent group group.
func InGroup(brokers []Broker, group string) []Broker {
	var out []Broker
	for _, b := range brokers {
		if b.Group == group {
			out = append(out, b)
		}
	}
	return out
}

// InZone returns the brokers whose rack is zone, or all of them when zone
// is empty or none match.
func InZone(brokers []Broker, zone string) []Broker {
	if zone == "" {
		return brokers
	}
	var out []Broker
	for _, b := range brokers {
		if b.Rack != nil && *b.Rack == zone {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		return brokers
	}
	return out
}

// zoneKey marks a zone in a client ID, as in "billing,sluice_az=us-east-1a";
// groupKey an agent group, as in "billing,sluice_group=tenant-a".
const (
	zoneKey  = "sluice_az="
	groupKey = "sluice_group="
)

// ClientZone extracts the zone a client asks for from its client ID: the
// text after "sluice_az=" up to the next ',', ';', '&' or space, or "" when
// the client ID names none.
func ClientZone(clientID string) string {
	z, _ := clientIDValue(clientID, zoneKey)
	return z
}

// ClientGroup extracts the agent group a client asks for from its client
// ID, written like the zone: "sluice_group=NAME" up to the next ',', ';',
// '&' or space. ok is false when the client ID names none; an empty name
// ("sluice_group=") is the default group.
func ClientGroup(clientID string) (group string, ok bool) {
	return clientIDValue(clientID, groupKey)
}

func clientIDValue(clientID, key string) (string, bool) {
	i := strings.Index(clientID, key)
	if i < 0 {
		return "", false
	}
	v := clientID[i+len(key):]
	if j := strings.IndexAny(v, ",;& "); j >= 0 {
		v = v[:j]
	}
	return v, true
}

// Owner returns the live agent that owns key among the proxy agents of
// this agent's agent group: each group coordinates the consumer groups
// and transactions of its own clients.
func (r *Registry) Owner(key string) Broker { return r.OwnerFor("", key) }

// OwnerFor returns the live agent that owns key for a client: the owner
// among the proxy agents of the client's agent group (the group its
// client ID names, else this agent's; see Brokers). NodeID is -1 when no
// proxy agent is live.
func (r *Registry) OwnerFor(clientID, key string) Broker {
	r.mu.RLock()
	live := r.live
	r.mu.RUnlock()
	return Rendezvous(r.inClientGroup(live, clientID), key)
}

// Rendezvous picks the broker with the highest hash of (key, node ID); its
// NodeID is -1 when brokers is empty.
func Rendezvous(brokers []Broker, key string) Broker {
	var (
		best  = Broker{NodeID: -1}
		score uint64
	)
	for i, b := range brokers {
		h := fnv.New64a()
		h.Write([]byte(key))
		h.Write([]byte{0})
		h.Write([]byte(strconv.Itoa(int(b.NodeID))))
		if s := mix64(h.Sum64()); i == 0 || s > score {
			best, score = b, s
		}
	}
	return best
}

// mix64 is splitmix64's finalizer: FNV alone spreads keys that differ only in
// their last bytes poorly.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
