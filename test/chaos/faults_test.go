package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"
)

// Fault kinds, as counted in the report.
const (
	faultAgentKill    = "agent kill -9 + restart"
	faultAgentPause   = "agent SIGSTOP/SIGCONT"
	faultAgentTerm    = "agent SIGTERM + restart"
	faultPGStop       = "postgres stop/start"
	faultPGKill       = "postgres kill -9 + start"
	faultPGRestart    = "postgres restart"
	faultBucketErrors = "bucket 503 errors"
	faultBucketStall  = "bucket stall"
	faultBucketSlow   = "bucket slow"
	faultPartPG       = "partition agent<->postgres"
	faultPartBucket   = "partition agent<->bucket"
	faultPartPeer     = "partition agent<->agent"
	faultPartClient   = "partition clients<->agent"
	faultCombined     = "(faults overlapping another)"
)

// partitionKinds need the agents in network namespaces (netLab).
var partitionKinds = []string{faultPartPG, faultPartBucket, faultPartPeer, faultPartClient}

func isPartition(kind string) bool {
	for _, k := range partitionKinds {
		if k == kind {
			return true
		}
	}
	return false
}

var faultKinds = []string{faultAgentKill, faultAgentPause, faultAgentTerm, faultPGStop, faultPGKill,
	faultPGRestart, faultBucketErrors, faultBucketStall, faultBucketSlow}

// faultKeys name the kinds for CHAOS_FAULTS.
var faultKeys = map[string]string{
	"agent-kill": faultAgentKill, "agent-pause": faultAgentPause, "agent-term": faultAgentTerm,
	"pg-stop": faultPGStop, "pg-kill": faultPGKill, "pg-restart": faultPGRestart,
	"bucket-errors": faultBucketErrors, "bucket-stall": faultBucketStall, "bucket-slow": faultBucketSlow,
	"partition-pg": faultPartPG, "partition-bucket": faultPartBucket, "partition-peer": faultPartPeer,
	"partition-client": faultPartClient,
}

// enabledFaults parses CHAOS_FAULTS: comma-separated keys of faultKeys,
// "partition" for the four partition kinds, "all" for every kind; empty
// is every kind but the partitions, or every kind with withNetns
// (CHAOS_NETNS=1).
func enabledFaults(spec string, withNetns bool) ([]string, error) {
	all := append(append([]string{}, faultKinds...), partitionKinds...)
	switch spec {
	case "":
		if withNetns {
			return all, nil
		}
		return faultKinds, nil
	case "all":
		return all, nil
	}
	var out []string
	for _, k := range strings.Split(spec, ",") {
		k = strings.TrimSpace(k)
		if k == "partition" {
			out = append(out, partitionKinds...)
			continue
		}
		kind, ok := faultKeys[k]
		if !ok {
			return nil, fmt.Errorf("unknown fault %q (known: agent-kill, agent-pause, agent-term, pg-stop, pg-kill, pg-restart, bucket-errors, bucket-stall, bucket-slow, partition-pg, partition-bucket, partition-peer, partition-client, partition, all)", k)
		}
		out = append(out, kind)
	}
	return out, nil
}

// faults injects faults into a cluster on a schedule: every interval
// (jittered) it starts one fault, sometimes two at once, on a resource
// (an agent, PostgreSQL, the bucket) that no running fault holds. Each
// fault heals itself after a few seconds, whatever the context says.
type faults struct {
	c     *cluster
	kinds []string   // the kinds to inject
	rng   *rand.Rand // used by the scheduler goroutine only
	logf  func(format string, args ...any)

	mu     sync.Mutex // guards counts, busy, active, problems and readiness
	counts map[string]int
	busy   map[string]bool
	active int
	// readiness is what /readyz said around partitions from a dependency.
	readiness readinessStats
	// problems are failures of the fault machinery itself (an agent
	// that did not come back): reported, they fail the run.
	problems []string

	wg sync.WaitGroup
}

func newFaults(c *cluster, kinds []string, seed uint64, logf func(string, ...any)) *faults {
	return &faults{c: c, kinds: kinds, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), logf: logf,
		counts: map[string]int{}, busy: map[string]bool{}}
}

func (f *faults) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.logf("FAULT PROBLEM: %s", msg)
	f.mu.Lock()
	f.problems = append(f.problems, msg)
	f.mu.Unlock()
}

// run schedules faults until ctx ends, then waits for every fault to heal.
func (f *faults) run(ctx context.Context, interval time.Duration) {
	defer f.wg.Wait()
	for {
		jitter := time.Duration(f.rng.Int64N(int64(interval)))
		if !sleep(ctx, interval/2+jitter) {
			return
		}
		n := 1
		if f.rng.IntN(10) < 3 {
			n = 2
		}
		for i := 0; i < n; i++ {
			f.start(f.kinds[f.rng.IntN(len(f.kinds))])
		}
	}
}

// start launches fault kind k on a free resource; it skips when none is.
func (f *faults) start(kind string) {
	res := ""
	var ag *agent
	switch kind {
	case faultAgentKill, faultAgentPause, faultAgentTerm:
		ag = f.c.agents[f.rng.IntN(len(f.c.agents))]
		res = fmt.Sprintf("agent-%d", ag.id)
	case faultPGStop, faultPGKill, faultPGRestart:
		res = "pg"
	case faultPartPG, faultPartBucket, faultPartPeer, faultPartClient:
		// An agent's partitions exclude its other faults, so /readyz
		// is reachable around them.
		ag = f.c.agents[f.rng.IntN(len(f.c.agents))]
		res = fmt.Sprintf("agent-%d", ag.id)
	default:
		res = "bucket"
	}
	hold := time.Second + time.Duration(f.rng.Int64N(int64(5*time.Second)))
	rate := []float64{0.3, 1}[f.rng.IntN(2)]
	delay := time.Duration(200+f.rng.IntN(1300)) * time.Millisecond
	// Partitions draw more only for themselves, so a CHAOS_SEED gives
	// the schedule it gave before partitions existed.
	dir := ""
	var peer *agent
	if kind == faultPartPeer {
		peer = f.c.agents[(ag.id+f.rng.IntN(len(f.c.agents)-1))%len(f.c.agents)]
	}
	if isPartition(kind) {
		dir = []string{dirBoth, dirTo, dirFrom}[f.rng.IntN(3)]
		// Partitions last longer than the other faults (2-10 s), past
		// the agents' 1.5 s registration TTL and readiness bound.
		hold = 2*time.Second + time.Duration(f.rng.Int64N(int64(8*time.Second)))
	}
	f.mu.Lock()
	if f.busy[res] || f.active >= 2 {
		f.mu.Unlock()
		return
	}
	f.busy[res] = true
	if f.active > 0 {
		f.counts[faultCombined]++
	}
	f.active++
	f.counts[kind]++
	if isPartition(kind) {
		f.counts[kind+"\x00"+dir]++
	}
	f.mu.Unlock()
	switch {
	case peer != nil:
		f.logf("fault: %s (agent-%d and agent-%d, %s) for %v", kind, ag.id, peer.id, dir, hold)
	case isPartition(kind):
		f.logf("fault: %s on %s (%s) for %v", kind, res, dir, hold)
	default:
		f.logf("fault: %s on %s for %v", kind, res, hold)
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer func() {
			f.mu.Lock()
			f.busy[res] = false
			f.active--
			f.mu.Unlock()
		}()
		wait := func() { time.Sleep(hold) }
		switch kind {
		case faultAgentKill:
			ag.kill()
			wait()
			f.restart(ag)
		case faultAgentPause:
			ag.pause()
			wait()
			ag.resume()
		case faultAgentTerm:
			if err := ag.term(); err != nil {
				f.problem("%v", err)
			}
			f.restart(ag)
		case faultPGStop:
			f.c.pg.Stop()
			wait()
			f.c.pg.Start()
		case faultPGKill:
			f.c.pg.Kill()
			wait()
			f.c.pg.Start()
		case faultPGRestart:
			f.c.pg.Restart()
		case faultBucketErrors:
			f.c.bucket.Errors(rate)
			wait()
			f.c.bucket.Heal()
		case faultBucketStall:
			f.c.bucket.Stall()
			wait()
			f.c.bucket.Heal()
		case faultBucketSlow:
			f.c.bucket.Slow(delay)
			wait()
			f.c.bucket.Heal()
		case faultPartPG, faultPartBucket, faultPartPeer, faultPartClient:
			f.partition(kind, ag, peer, dir, hold)
		}
	}()
}

// restart starts a stopped agent again, retrying for two minutes (it
// cannot start while PostgreSQL is down).
func (f *faults) restart(a *agent) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := a.start(ctx)
		cancel()
		if err == nil {
			return
		}
		a.kill() // one that started but never became healthy
		if time.Now().After(deadline) {
			f.problem("agent %d did not come back: %v", a.id, err)
			return
		}
		time.Sleep(time.Second)
	}
}

// table renders the fault counts.
func (f *faults) table() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%-38s %8s\n", "fault", "injected")
	total := 0
	kinds := faultKinds
	if f.c.net != nil {
		kinds = append(append([]string{}, faultKinds...), partitionKinds...)
	}
	for _, k := range kinds {
		fmt.Fprintf(&b, "%-38s %8d\n", k, f.counts[k])
		total += f.counts[k]
		if isPartition(k) {
			for _, d := range []string{dirBoth, dirTo, dirFrom} {
				fmt.Fprintf(&b, "  %-36s %8d\n", d, f.counts[k+"\x00"+d])
			}
		}
	}
	fmt.Fprintf(&b, "%-38s %8d\n", faultCombined, f.counts[faultCombined])
	fmt.Fprintf(&b, "%-38s %8d\n", "total", total)
	st := f.c.bucket.Stats()
	fmt.Fprintf(&b, "bucket requests %d: %d answered 503, %d stalled, %d delayed\n", st.Requests, st.Errored, st.Stalled, st.Delayed)
	if f.c.net != nil {
		r := f.readiness
		fmt.Fprintf(&b, "readiness around partitions from postgres or the bucket: %d held >= %v, /readyz answered 503 during %d of them; ready again after %d of %d heals (slowest %v)\n",
			r.long, readyBound, r.longUnready, r.readyAgain, r.healed, r.slowestReady.Round(100*time.Millisecond))
	}
	probs := append([]string(nil), f.problems...)
	sort.Strings(probs)
	for _, p := range probs {
		fmt.Fprintf(&b, "fault machinery problem: %s\n", p)
	}
	return b.String()
}
