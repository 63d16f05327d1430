package adminapi

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/buildinfo"
	"github.com/sluicehq/sluice/internal/metadata"
)

// AgentInfo is one live agent.
type AgentInfo struct {
	NodeID      int32     `json:"node_id"`
	Host        string    `json:"host,omitempty"`
	Port        int32     `json:"port,omitempty"`
	Zone        string    `json:"zone"`
	HeartbeatAt time.Time `json:"heartbeat_at,omitzero"`
	// Self marks the agent that answered. Version, uptime and readiness
	// come from each agent itself (GET /api/v1/agent on the HTTP address
	// it advertises for the zone peer cache); they are absent for an
	// agent that advertises none or does not answer.
	Self          bool       `json:"self"`
	Version       string     `json:"version,omitempty"`
	Commit        string     `json:"commit,omitempty"`
	UptimeSeconds int64      `json:"uptime_seconds,omitempty"`
	Readiness     *Readiness `json:"readiness,omitempty"`
}

// Storage is what the bucket holds, as the metadata store records it.
type Storage struct {
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
	// SmallFiles are referenced files under SmallFileBytes, which
	// compaction merges: the compaction debt.
	SmallFiles int64 `json:"small_files"`
	// ReleasedFiles are files no longer referenced, waiting for deletion.
	ReleasedFiles int64     `json:"released_files"`
	ComputedAt    time.Time `json:"computed_at"`
	// Truncated is set when there were more files than were counted.
	Truncated bool `json:"truncated,omitempty"`
}

// SmallFileBytes is the size under which a file counts as compaction debt.
const SmallFileBytes = 4 << 20

// Cluster is the answer of GET /api/v1/cluster.
type Cluster struct {
	ClusterID        string      `json:"cluster_id"`
	NodeID           int32       `json:"node_id"`
	Version          string      `json:"version"`
	Commit           string      `json:"commit,omitempty"`
	Go               string      `json:"go,omitempty"`
	UptimeSeconds    int64       `json:"uptime_seconds"`
	ReadOnly         bool        `json:"read_only"`
	Readiness        Readiness   `json:"readiness"`
	Agents           []AgentInfo `json:"agents"`
	Topics           int         `json:"topics"`
	Partitions       int64       `json:"partitions"`
	Groups           int         `json:"groups"`
	OpenTransactions int         `json:"open_transactions"`
	Storage          Storage     `json:"storage"`
}

// Cluster describes the cluster as this agent sees it.
func (a *API) Cluster(ctx context.Context) (Cluster, error) {
	bi := buildinfo.Read()
	up := int64(time.Since(a.cfg.StartedAt).Seconds())
	c := Cluster{NodeID: a.cfg.NodeID, Version: bi.Version, Commit: bi.Commit, Go: bi.Go, UptimeSeconds: up,
		ReadOnly: a.cfg.ReadOnly, Readiness: a.cfg.Readiness()}
	var err error
	if c.ClusterID, err = a.cfg.Store.ClusterID(ctx); err != nil {
		return c, err
	}
	agents, err := a.cfg.Store.LiveAgents(ctx, a.cfg.AgentTTL)
	if err != nil {
		return c, err
	}
	c.Agents = make([]AgentInfo, len(agents))
	var wg sync.WaitGroup
	for i, ag := range agents {
		ai := &c.Agents[i]
		*ai = AgentInfo{NodeID: ag.NodeID, Host: ag.Host, Port: ag.Port, Zone: ag.Zone, HeartbeatAt: ag.HeartbeatAt}
		if ag.NodeID == a.cfg.NodeID {
			r := c.Readiness
			ai.Self, ai.Version, ai.Commit, ai.UptimeSeconds, ai.Readiness = true, bi.Version, bi.Commit, up, &r
			continue
		}
		if ag.PeerAddr == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var self AgentInfo
			if err := a.askPeer(ctx, ag.PeerAddr, "/api/v1/agent", &self); err != nil {
				a.cfg.Logger.Debug("cluster: agent did not answer", "node_id", ag.NodeID, "err", err)
				return
			}
			ai.Version, ai.Commit, ai.UptimeSeconds, ai.Readiness = self.Version, self.Commit, self.UptimeSeconds, self.Readiness
		}()
	}
	wg.Wait()
	topics, err := a.cfg.Store.ListTopics(ctx)
	if err != nil {
		return c, err
	}
	c.Topics = len(topics)
	for _, t := range topics {
		c.Partitions += int64(t.Partitions)
	}
	groups, err := a.cfg.Store.ListGroups(ctx)
	if err != nil {
		return c, err
	}
	c.Groups = len(groups)
	txns, err := a.cfg.Store.ListTransactions(ctx)
	if err != nil {
		return c, err
	}
	for _, t := range txns {
		switch t.State {
		case metadata.TxnOngoing, metadata.TxnPrepareCommit, metadata.TxnPrepareAbort:
			c.OpenTransactions++
		}
	}
	if c.Storage, err = a.Storage(ctx); err != nil {
		return c, err
	}
	return c, nil
}

// storageTTL is how long a storage count is reused: counting lists every
// file record, which a page load should not do each time.
const storageTTL = 30 * time.Second

// maxCountedFiles bounds one storage count.
const maxCountedFiles = 1_000_000

// Storage counts the bucket's files from the metadata store (at most every
// storageTTL).
func (a *API) Storage(ctx context.Context) (Storage, error) {
	a.storageMu.Lock()
	defer a.storageMu.Unlock()
	if !a.storageAt.IsZero() && time.Since(a.storageAt) < storageTTL {
		return a.storage, nil
	}
	var s Storage
	after := ""
	for {
		page, err := a.cfg.Store.ListFiles(ctx, after, 1000)
		if err != nil {
			return Storage{}, err
		}
		for _, f := range page {
			s.Files++
			s.Bytes += f.Size
			switch {
			case !f.ReleasedAt.IsZero():
				s.ReleasedFiles++
			case f.Size < SmallFileBytes:
				s.SmallFiles++
			}
		}
		if len(page) < 1000 {
			break
		}
		if s.Files >= maxCountedFiles {
			s.Truncated = true
			break
		}
		after = page[len(page)-1].Key
	}
	s.ComputedAt = time.Now().UTC()
	a.storage, a.storageAt = s, time.Now()
	return s, nil
}

// Self describes the answering agent.
func (a *API) Self() AgentInfo {
	bi := buildinfo.Read()
	r := a.cfg.Readiness()
	return AgentInfo{NodeID: a.cfg.NodeID, Zone: a.cfg.Zone, Self: true, Version: bi.Version, Commit: bi.Commit,
		UptimeSeconds: int64(time.Since(a.cfg.StartedAt).Seconds()), Readiness: &r}
}

func (a *API) serveAgent(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	writeJSON(w, http.StatusOK, a.Self())
	return nil
}

func (a *API) serveCluster(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	c, err := a.Cluster(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}
