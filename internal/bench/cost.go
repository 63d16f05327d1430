package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/objstore"
)

// CostConfig is one run of the cost benchmark (Cost): AgentsPerZone
// `sluice agent` processes in each of Zones, on one bucket and one
// PostgreSQL metadata store, each behind counting proxies; producers and
// consumers in every zone move Bytes through one topic.
type CostConfig struct {
	// SluiceBin is the sluice binary the agents run (default: this one).
	SluiceBin string
	// BucketURL is the bucket: s3://bucket?endpoint=http://…&… (requests
	// counted by a proxy per agent) or file:///dir (requests taken from
	// the agents' sluice_bucket_requests_total).
	BucketURL string
	// MetadataURL is a postgres:// URL; each agent reaches it through its
	// own counting proxy.
	MetadataURL string
	// StoreZone is the zone the metadata store is in (default: the first).
	StoreZone     string
	Zones         []string
	AgentsPerZone int
	// Bytes is the volume of record values to produce (and consume).
	Bytes            int64
	RecordSize       int
	Partitions       int32
	ProducersPerZone int
	ConsumersPerZone int
	// Rate caps production in bytes per second over all producers (0: as
	// fast as they go).
	Rate float64
	// ZoneAware puts sluice_az=<zone> in every client's ID and seeds it
	// with its zone's agents; without it clients see every agent.
	ZoneAware          bool
	BatchTimeout       time.Duration
	BatchMaxBytes      int64
	CacheBlockSize     int64
	CompactionInterval time.Duration
	RetentionInterval  time.Duration
	FileGracePeriod    time.Duration
	// Settle is how long the agents keep running after the data is
	// consumed, while compaction and file deletion run, with the bucket
	// sampled every SampleInterval.
	Settle         time.Duration
	SampleInterval time.Duration
	// Drain bounds a wait for records still missing.
	Drain time.Duration
	// AgentFlags are extra `sluice agent` flags.
	AgentFlags []string
	// LogDir receives each agent's log (default: a temporary directory,
	// removed when the run succeeds).
	LogDir   string
	Prices   Prices
	Progress io.Writer
}

func (c *CostConfig) check() error {
	if c.BucketURL == "" || c.MetadataURL == "" {
		return errors.New("need --bucket-url and --metadata-url")
	}
	if !strings.HasPrefix(c.MetadataURL, "postgres://") && !strings.HasPrefix(c.MetadataURL, "postgresql://") {
		return errors.New("--metadata-url must be a postgres:// URL: agents in separate processes share it")
	}
	if len(c.Zones) == 0 {
		c.Zones = []string{"a", "b", "c"}
	}
	if c.StoreZone == "" {
		c.StoreZone = c.Zones[0]
	}
	if c.AgentsPerZone <= 0 {
		c.AgentsPerZone = 1
	}
	if c.ProducersPerZone <= 0 {
		c.ProducersPerZone = 1
	}
	if c.ConsumersPerZone <= 0 {
		c.ConsumersPerZone = 1
	}
	if c.RecordSize <= 0 {
		c.RecordSize = 4096
	}
	if c.Bytes < int64(c.RecordSize) {
		return fmt.Errorf("--bytes %d is less than one record", c.Bytes)
	}
	if c.Partitions <= 0 {
		c.Partitions = 12
	}
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = 250 * time.Millisecond
	}
	if c.BatchMaxBytes <= 0 {
		c.BatchMaxBytes = 8 << 20
	}
	if c.CacheBlockSize <= 0 {
		c.CacheBlockSize = 4 << 20
	}
	if c.SampleInterval <= 0 {
		c.SampleInterval = 2 * time.Second
	}
	if c.Drain <= 0 {
		c.Drain = 60 * time.Second
	}
	if c.SluiceBin == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		c.SluiceBin = exe
	}
	return nil
}

// CostResult is what Cost measured and what it costs.
type CostResult struct {
	OK      bool   `json:"ok"`
	Problem string `json:"problem,omitempty"`
	// Bucket is "s3" (requests counted on the wire) or "file" (counted by
	// the agents).
	Bucket        string   `json:"bucket"`
	Zones         []string `json:"zones"`
	Agents        int      `json:"agents"`
	ZoneAware     bool     `json:"zone_aware"`
	BatchTimeoutS float64  `json:"batch_timeout_s"`
	RecordSize    int      `json:"record_size"`
	Partitions    int32    `json:"partitions"`

	ProducedBytes  int64   `json:"produced_bytes"`
	ConsumedBytes  int64   `json:"consumed_bytes"`
	ProduceSeconds float64 `json:"produce_seconds"`
	ConsumeSeconds float64 `json:"consume_seconds"`
	// RunSeconds is the whole run, settling included.
	RunSeconds float64 `json:"run_seconds"`

	// Requests are the bucket requests of the whole run (settling
	// included), by class ("put", "get", "list", …) and key prefix
	// ("files/", "_sluice/", …).
	Requests s3Counts `json:"requests"`
	// Of the data-file requests (files/ prefix, which also holds
	// lightning's journaled files: see keyPrefix):
	ProduceFlushes     float64            `json:"produce_flushes"` // files written by produce
	CompactionPuts     float64            `json:"compaction_puts"` // the other files/ PUTs
	ConsumeGets        float64            `json:"consume_gets"`    // read-path GETs (sluice_fetch_bucket_reads_total)
	ConsumeGetsByZone  map[string]float64 `json:"consume_gets_by_zone"`
	OtherDataGets      float64            `json:"other_data_gets"` // the other files/ GETs (compaction)
	BucketWrittenBytes int64              `json:"bucket_written_bytes"`
	BucketReadBytes    int64              `json:"bucket_read_bytes"`
	CompactionWritten  float64            `json:"compaction_written_bytes"`
	// ProduceFileBytes is the size of the files produce wrote; above
	// ProducedBytes by batch overhead and by batches clients sent again
	// (DuplicateBatches: retries the agents answered with their first
	// offsets, whose bytes the retried file still holds).
	ProduceFileBytes int64   `json:"produce_file_bytes"`
	DuplicateBatches float64 `json:"duplicate_batches"`
	// WriteAmplification is bytes written to the bucket (data files) per
	// byte produced.
	WriteAmplification float64 `json:"write_amplification"`

	// Storage samples the bucket's data (files/ and journal/) over time.
	Storage []StorageSample `json:"storage"`
	// StoredPeakRatio and StoredEndRatio are stored bytes per byte
	// produced at the peak and at the end.
	StoredPeakRatio float64 `json:"stored_peak_ratio"`
	StoredEndRatio  float64 `json:"stored_end_ratio"`

	// Cross-zone traffic, measured on the wire.
	ClientProduceCrossBytes int64 `json:"client_produce_cross_zone_bytes"`
	ClientProduceSameBytes  int64 `json:"client_produce_same_zone_bytes"`
	ClientConsumeCrossBytes int64 `json:"client_consume_cross_zone_bytes"`
	ClientConsumeSameBytes  int64 `json:"client_consume_same_zone_bytes"`
	PeerCrossBytes          int64 `json:"peer_cross_zone_bytes"`
	PeerSameBytes           int64 `json:"peer_same_zone_bytes"`
	// PeerUnattributedBytes moved on peer connections whose opening
	// process /proc no longer showed (a connection already closed).
	PeerUnattributedBytes int64 `json:"peer_unattributed_bytes"`
	// MetadataBytes is the traffic between the agents and the metadata
	// store by agent zone; MetadataCrossBytes is the part from zones
	// other than StoreZone.
	MetadataBytes      map[string]int64 `json:"metadata_bytes_by_zone"`
	MetadataCrossBytes int64            `json:"metadata_cross_zone_bytes"`
	StoreZone          string           `json:"store_zone"`

	// Per GiB produced and consumed.
	PerGiBProduced Requests `json:"requests_per_gib_produced"`
	PerGiBConsumed Requests `json:"requests_per_gib_consumed"`
	// FixedPerAgentMonth is the requests of readiness probes (_sluice/)
	// and journal scans (journal/) per agent per 730-hour month: paid
	// whatever the traffic.
	FixedPerAgentMonth Requests `json:"fixed_requests_per_agent_month"`

	Design Design `json:"design"`

	Prices             Prices     `json:"prices"`
	CostPerGiBProduced Price      `json:"cost_per_gib_produced"`
	CostPerGiBConsumed Price      `json:"cost_per_gib_consumed"`
	FixedUSDAgentMonth float64    `json:"fixed_usd_per_agent_month"`
	StorageUSDGiBMonth float64    `json:"storage_usd_per_gib_month"`
	Kafka              KafkaModel `json:"kafka_model"`
}

// StorageSample is the bucket's data at one time of the run.
type StorageSample struct {
	T       float64 `json:"t_s"`
	Bytes   int64   `json:"bytes"`
	Objects int64   `json:"objects"`
}

// costAgent is one agent process and its counting proxies.
type costAgent struct {
	zone      string
	nodeID    int
	kafkaAddr string
	httpAddr  string
	cmd       *exec.Cmd
	exited    chan struct{}
	s3        *s3Counter  // nil for a file:// bucket
	meta      *tcpCounter // agent ↔ metadata store
	peer      *tcpCounter // zone peers → this agent's cache
}

// Cost runs the cost benchmark.
func Cost(ctx context.Context, cfg CostConfig) (*CostResult, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	say := func(format string, a ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "cost: "+format+"\n", a...)
		}
	}
	res := &CostResult{Zones: cfg.Zones, Agents: len(cfg.Zones) * cfg.AgentsPerZone, ZoneAware: cfg.ZoneAware,
		BatchTimeoutS: cfg.BatchTimeout.Seconds(), RecordSize: cfg.RecordSize, Partitions: cfg.Partitions,
		StoreZone: cfg.StoreZone, Prices: cfg.Prices}

	bu, err := url.Parse(cfg.BucketURL)
	if err != nil {
		return nil, err
	}
	upstream := ""
	switch bu.Scheme {
	case "s3":
		res.Bucket = "s3"
		upstream = bu.Query().Get("endpoint")
		if upstream == "" {
			return nil, errors.New("an s3:// bucket needs ?endpoint=http://host:port (the counting proxy sits in front of it)")
		}
	case "file":
		res.Bucket = "file"
	default:
		return nil, fmt.Errorf("bucket scheme %q: use s3:// (with endpoint) or file://", bu.Scheme)
	}
	logDir := cfg.LogDir
	if logDir == "" {
		if logDir, err = os.MkdirTemp("", "sluice-cost-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}

	// The agents and their proxies.
	var (
		agents  []*costAgent
		pidMu   sync.Mutex // guards pidZone
		pidZone = map[int]string{}
	)
	attribute := func(c net.Conn) string {
		pidMu.Lock()
		pids := make([]int, 0, len(pidZone))
		for p := range pidZone {
			pids = append(pids, p)
		}
		pidMu.Unlock()
		pid := procOwner(c, pids)
		pidMu.Lock()
		defer pidMu.Unlock()
		return zoneOfPid(pidZone, pid)
	}
	defer func() {
		var wg sync.WaitGroup
		for _, a := range agents {
			wg.Add(1)
			go func() { defer wg.Done(); a.stop() }()
		}
		wg.Wait()
	}()
	node := 0
	for _, z := range cfg.Zones {
		for range cfg.AgentsPerZone {
			node++
			a := &costAgent{zone: z, nodeID: node, kafkaAddr: freeAddr(), httpAddr: freeAddr()}
			agents = append(agents, a)
			bucketURL := cfg.BucketURL
			if upstream != "" {
				if a.s3, err = startS3Counter(upstream); err != nil {
					return nil, err
				}
				q := bu.Query()
				q.Set("endpoint", "http://"+a.s3.Addr())
				u := *bu
				u.RawQuery = q.Encode()
				bucketURL = u.String()
			}
			_, storeAddr, err := replaceHost(cfg.MetadataURL, "x:1")
			if err != nil {
				return nil, err
			}
			if a.meta, err = startTCPCounter(storeAddr, z, nil); err != nil {
				return nil, err
			}
			metaURL, _, _ := replaceHost(cfg.MetadataURL, a.meta.Addr())
			if a.peer, err = startTCPCounter(a.httpAddr, z, attribute); err != nil {
				return nil, err
			}
			args := []string{"agent", "--bucket-url", bucketURL, "--metadata-url", metaURL,
				"--zone", z, "--node-id", strconv.Itoa(node),
				"--kafka-addr", a.kafkaAddr, "--http-addr", a.httpAddr, "--peer-advertise-addr", a.peer.Addr(),
				"--schema-registry-addr", "", "--log-level", "warn",
				"--batch-timeout", cfg.BatchTimeout.String(),
				"--batch-max-bytes", strconv.FormatInt(cfg.BatchMaxBytes, 10),
				"--cache-block-size", strconv.FormatInt(cfg.CacheBlockSize, 10),
				"--compaction-interval", cfg.CompactionInterval.String(),
				"--retention-interval", cfg.RetentionInterval.String(),
				"--file-grace-period", cfg.FileGracePeriod.String(),
			}
			args = append(args, cfg.AgentFlags...)
			if err := a.start(ctx, cfg.SluiceBin, args, filepath.Join(logDir, fmt.Sprintf("agent-%d-%s.log", node, z))); err != nil {
				return nil, err
			}
			pidMu.Lock()
			pidZone[a.cmd.Process.Pid] = z
			pidMu.Unlock()
		}
	}
	for _, a := range agents {
		if err := a.waitHealthy(ctx, 60*time.Second); err != nil {
			return nil, fmt.Errorf("%w (logs in %s)", err, logDir)
		}
	}
	say("%d agents in zones %s serve (logs in %s)", len(agents), strings.Join(cfg.Zones, ","), logDir)

	zoneOfAddr := map[string]string{}
	var all []string
	for _, a := range agents {
		zoneOfAddr[a.kafkaAddr] = a.zone
		all = append(all, a.kafkaAddr)
	}
	zoneOf := func(host string) string {
		if z, ok := zoneOfAddr[host]; ok {
			return z
		}
		return "unknown"
	}
	const topic = "sluice-cost"
	if err := costTopic(ctx, all, topic, cfg.Partitions, len(agents)); err != nil {
		return nil, err
	}

	// The storage sampler lists the bucket directly, not through a proxy.
	bucket, err := objstore.Open(ctx, cfg.BucketURL)
	if err != nil {
		return nil, err
	}
	defer bucket.Close()

	// Counters before the traffic.
	s3Before := snapshotS3(agents)
	mBefore, err := scrapeAgents(ctx, agents)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var (
		sampleWG sync.WaitGroup
		samples  []StorageSample
	)
	sampleWG.Add(1)
	go func() {
		defer sampleWG.Done()
		t := time.NewTicker(cfg.SampleInterval)
		defer t.Stop()
		for {
			if s, err := storageNow(sampleCtx, bucket); err == nil {
				s.T = math.Round(time.Since(start).Seconds()*10) / 10
				samples = append(samples, s)
			}
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
			}
		}
	}()

	// Producers and consumers in every zone.
	flows := map[string]*flowCounter{"produce": newFlowCounter(), "consume": newFlowCounter()}
	records := (cfg.Bytes + int64(cfg.RecordSize) - 1) / int64(cfg.RecordSize)
	prodDur, consDur, produced, consumed, err := costTraffic(ctx, cfg, topic, records, agents, zoneOf, flows, say)
	res.ProduceSeconds, res.ConsumeSeconds = prodDur.Seconds(), consDur.Seconds()
	res.ProducedBytes, res.ConsumedBytes = produced, consumed
	if err != nil {
		stopSampling()
		sampleWG.Wait()
		res.Problem = err.Error()
		return res, nil
	}
	say("produced %.1f MiB in %.1fs, consumed %.1f MiB in %.1fs; settling %s", float64(produced)/(1<<20), res.ProduceSeconds,
		float64(consumed)/(1<<20), res.ConsumeSeconds, cfg.Settle)
	select {
	case <-ctx.Done():
	case <-time.After(cfg.Settle):
	}
	stopSampling()
	sampleWG.Wait()
	res.RunSeconds = time.Since(start).Seconds()
	res.Storage = samples

	mAfter, err := scrapeAgents(ctx, agents)
	if err != nil {
		return nil, err
	}
	s3After := snapshotS3(agents)
	delta := func(name string, labels map[string]string) (sum float64, byZone map[string]float64) {
		byZone = map[string]float64{}
		for i, a := range agents {
			d := mAfter[i].value(name, labels) - mBefore[i].value(name, labels)
			sum += d
			byZone[a.zone] += d
		}
		return sum, byZone
	}
	if upstream != "" {
		res.Requests = s3After.minus(s3Before)
	} else {
		res.Requests = s3Counts{}
		for _, op := range []string{"put", "get", "delete", "list"} {
			n, _ := delta("sluice_bucket_requests_total", map[string]string{"op": op})
			res.Requests.add(op, "all", reqCount{Requests: int64(n)})
		}
	}
	res.ProduceFlushes, _ = delta("sluice_produce_flushes_total", nil)
	res.ConsumeGets, res.ConsumeGetsByZone = delta("sluice_fetch_bucket_reads_total", nil)
	res.CompactionWritten, _ = delta("sluice_compaction_written_bytes_total", nil)
	flushBytes, _ := delta("sluice_produce_flush_bytes_sum", nil)
	res.ProduceFileBytes = int64(flushBytes)
	res.DuplicateBatches, _ = delta("sluice_produce_duplicate_batches_total", nil)
	files := res.ProduceFlushes

	dataPrefix := "files/"
	if upstream == "" {
		dataPrefix = "all"
		res.BucketWrittenBytes = int64(flushBytes + res.CompactionWritten)
		rb, _ := delta("sluice_fetch_bucket_bytes_total", nil)
		cr, _ := delta("sluice_compaction_read_bytes_total", nil)
		res.BucketReadBytes = int64(rb + cr)
	} else {
		res.BucketWrittenBytes = res.Requests[classPut][dataPrefix].BytesIn
		res.BucketReadBytes = res.Requests[classGet][dataPrefix].BytesOut
	}
	res.CompactionPuts = math.Max(0, float64(res.Requests[classPut][dataPrefix].Requests)-res.ProduceFlushes)
	res.OtherDataGets = math.Max(0, float64(res.Requests[classGet][dataPrefix].Requests)-res.ConsumeGets)
	if produced > 0 {
		res.WriteAmplification = round3(float64(res.BucketWrittenBytes) / float64(produced))
		for _, s := range samples {
			res.StoredPeakRatio = math.Max(res.StoredPeakRatio, float64(s.Bytes)/float64(produced))
		}
		if len(samples) > 0 {
			res.StoredEndRatio = round3(float64(samples[len(samples)-1].Bytes) / float64(produced))
		}
		res.StoredPeakRatio = round3(res.StoredPeakRatio)
	}

	// Cross-zone bytes.
	res.ClientProduceCrossBytes, res.ClientProduceSameBytes = crossZone(flows["produce"].snapshot())
	res.ClientConsumeCrossBytes, res.ClientConsumeSameBytes = crossZone(flows["consume"].snapshot())
	res.MetadataBytes = map[string]int64{}
	for _, a := range agents {
		peer := a.peer.snapshot()
		for k, n := range peer {
			if k.From == "unknown" {
				res.PeerUnattributedBytes += n
				delete(peer, k)
			}
		}
		pc, ps := crossZone(peer)
		res.PeerCrossBytes += pc
		res.PeerSameBytes += ps
		for _, n := range a.meta.snapshot() {
			res.MetadataBytes[a.zone] += n
			if a.zone != cfg.StoreZone {
				res.MetadataCrossBytes += n
			}
		}
	}

	// Per GiB, design figures and prices.
	all3 := res.Requests.tiers()
	// Paid per agent whatever the traffic: readiness probes (_sluice/)
	// and the journal recovery scan (journal/ LISTs every
	// --journal-lease-ttl/3).
	fixed := s3Counts{}
	for class, m := range res.Requests {
		for _, prefix := range []string{"_sluice/", "journal/"} {
			if n, ok := m[prefix]; ok {
				fixed.add(class, prefix, n)
			}
		}
	}
	fixedTiers := fixed.tiers()
	consumeReq := Requests{GetTier: res.ConsumeGets}
	produceReq := Requests{PutTier: all3.PutTier - fixedTiers.PutTier, GetTier: all3.GetTier - fixedTiers.GetTier - res.ConsumeGets,
		Free: all3.Free - fixedTiers.Free}
	res.PerGiBProduced = roundReq(produceReq.perGiB(float64(produced)))
	res.PerGiBConsumed = roundReq(consumeReq.perGiB(float64(consumed)))
	agentMonths := float64(len(agents)) * res.RunSeconds / (730 * 3600)
	if agentMonths > 0 {
		res.FixedPerAgentMonth = roundReq(Requests{PutTier: fixedTiers.PutTier / agentMonths, GetTier: fixedTiers.GetTier / agentMonths})
	}
	res.Design = design(len(agents), res.ProduceSeconds, cfg.BatchTimeout.Seconds(), flushBytes,
		float64(cfg.BatchMaxBytes), files, float64(cfg.CacheBlockSize), len(cfg.Zones))
	p := cfg.Prices
	res.CostPerGiBProduced = roundCost(p.priceTraffic(res.PerGiBProduced,
		perGiB(float64(res.ClientProduceCrossBytes+res.PeerCrossBytes+res.MetadataCrossBytes), float64(produced))))
	res.CostPerGiBConsumed = roundCost(p.priceTraffic(res.PerGiBConsumed,
		perGiB(float64(res.ClientConsumeCrossBytes), float64(consumed))))
	res.FixedUSDAgentMonth = round6(p.priceTraffic(res.FixedPerAgentMonth, 0).Total)
	res.StorageUSDGiBMonth = round6(p.storageUSDPerGiBMonth(res.StoredEndRatio))
	res.Kafka = kafkaModel(len(cfg.Zones), 3, p)

	var problems []string
	if consumed < produced {
		problems = append(problems, fmt.Sprintf("consumed %d of %d bytes", consumed, produced))
	}
	if cfg.ZoneAware && (res.ClientProduceCrossBytes != 0 || res.ClientConsumeCrossBytes != 0) {
		problems = append(problems, fmt.Sprintf("zone-aware clients moved %d produce and %d consume bytes across zones",
			res.ClientProduceCrossBytes, res.ClientConsumeCrossBytes))
	}
	if res.PeerCrossBytes != 0 {
		problems = append(problems, fmt.Sprintf("agents moved %d cache bytes across zones", res.PeerCrossBytes))
	}
	res.Problem = strings.Join(problems, "; ")
	res.OK = res.Problem == ""
	if res.OK && cfg.LogDir == "" {
		os.RemoveAll(logDir)
	}
	return res, nil
}

// Note: the metadata store's cross-zone bytes are reported and priced, not
// a failure: a store in one zone is reached from the others by design.
// The consume side's cross-zone price counts only client traffic: the
// agents' store traffic is charged to produce, where commits happen.

func round3(v float64) float64 { return math.Round(v*1e3) / 1e3 }
func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

func roundReq(r Requests) Requests {
	return Requests{PutTier: round3(r.PutTier), GetTier: round3(r.GetTier), Free: round3(r.Free)}
}

func roundCost(c Price) Price {
	return Price{Requests: round6(c.Requests), CrossZone: round6(c.CrossZone), Total: round6(c.Total)}
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (a *costAgent) start(ctx context.Context, bin string, args []string, logPath string) error {
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	a.cmd = exec.Command(bin, args...)
	a.cmd.Stdout, a.cmd.Stderr = log, log
	dieWithParent(a.cmd)
	if err := a.cmd.Start(); err != nil {
		log.Close()
		return err
	}
	a.exited = make(chan struct{})
	go func() {
		a.cmd.Wait()
		log.Close()
		close(a.exited)
	}()
	return nil
}

func (a *costAgent) waitHealthy(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.httpAddr+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-a.exited:
			return fmt.Errorf("agent %d (zone %s) exited during start", a.nodeID, a.zone)
		case <-ctx.Done():
			return fmt.Errorf("agent %d (zone %s) not ready: %w", a.nodeID, a.zone, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop ends the agent (SIGTERM, then SIGKILL after 20 s) and its proxies.
func (a *costAgent) stop() {
	if a.cmd != nil && a.cmd.Process != nil {
		select {
		case <-a.exited:
		default:
			a.cmd.Process.Signal(os.Interrupt)
			select {
			case <-a.exited:
			case <-time.After(20 * time.Second):
				a.cmd.Process.Kill()
				<-a.exited
			}
		}
	}
	if a.s3 != nil {
		a.s3.Close()
	}
	if a.meta != nil {
		a.meta.Close()
	}
	if a.peer != nil {
		a.peer.Close()
	}
}

func snapshotS3(agents []*costAgent) s3Counts {
	out := s3Counts{}
	for _, a := range agents {
		if a.s3 != nil {
			out = out.plus(a.s3.snapshot())
		}
	}
	return out
}

func scrapeAgents(ctx context.Context, agents []*costAgent) ([]samples, error) {
	out := make([]samples, len(agents))
	for i, a := range agents {
		ss, err := scrape(ctx, "http://"+a.httpAddr+"/metrics")
		if err != nil {
			return nil, err
		}
		out[i] = ss
	}
	return out, nil
}

// storageNow lists the data objects of the bucket (files/ and journal/).
func storageNow(ctx context.Context, b objstore.Bucket) (StorageSample, error) {
	var s StorageSample
	for _, prefix := range []string{"files/", "journal/"} {
		err := b.List(ctx, prefix, func(o objstore.Object) error {
			s.Bytes += o.Size
			s.Objects++
			return nil
		})
		if err != nil {
			return s, err
		}
	}
	return s, nil
}

// costTopic creates the topic and waits until every agent is in Metadata.
func costTopic(ctx context.Context, seeds []string, topic string, partitions int32, agents int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ClientID("sluice-bench-cost-admin"))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// Direct Metadata requests: kadm's answers may come from the client's
	// cache, which can predate the last agent's registration.
	metadata := func(topics ...string) (*kmsg.MetadataResponse, error) {
		req := kmsg.NewPtrMetadataRequest()
		req.Topics = []kmsg.MetadataRequestTopic{}
		for _, t := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(t)
			req.Topics = append(req.Topics, rt)
		}
		return req.RequestWith(ctx, cl)
	}
	for {
		resp, err := metadata()
		if err == nil && len(resp.Brokers) >= agents {
			break
		}
		select {
		case <-ctx.Done():
			n := 0
			if resp != nil {
				n = len(resp.Brokers)
			}
			return fmt.Errorf("waiting for %d agents in Metadata (%d seen, error %v): %w", agents, n, err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	if _, err := adm.CreateTopic(ctx, partitions, -1, nil, topic); err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	for {
		resp, err := metadata(topic)
		if err == nil && len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == 0 && len(resp.Topics[0].Partitions) == int(partitions) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s not in Metadata: %w", topic, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// costTraffic produces records of cfg.RecordSize from every zone while
// consumers in every zone read them all back (partitions split among the
// consumers), with every client's bytes counted by zone.
func costTraffic(ctx context.Context, cfg CostConfig, topic string, records int64, agents []*costAgent,
	zoneOf func(string) string, flows map[string]*flowCounter, say func(string, ...any)) (prodDur, consDur time.Duration, produced, consumed int64, err error) {
	zoneSeeds := map[string][]string{}
	var all []string
	for _, a := range agents {
		zoneSeeds[a.zone] = append(zoneSeeds[a.zone], a.kafkaAddr)
		all = append(all, a.kafkaAddr)
	}
	clientOpts := func(zone, role string) []kgo.Opt {
		id, seeds := "sluice-bench-cost", all
		if cfg.ZoneAware {
			id, seeds = "sluice-bench-cost,sluice_az="+zone, zoneSeeds[zone]
		}
		d := countingDialer{clientZone: zone, zoneOf: zoneOf, flows: flows[role]}
		return []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID(id), kgo.Dialer(d.DialContext)}
	}

	payload := make([]byte, 1<<20)
	rand.Read(payload)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		ackedBytes, readBytes, readRecords atomic.Int64
		errMu                              sync.Mutex // guards firstErr
		firstErr                           error
	)
	fail := func(e error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = e
		}
		errMu.Unlock()
		cancel()
	}
	start := time.Now()

	// Consumers: consumer k of K reads the partitions p with p % K == k.
	K := len(cfg.Zones) * cfg.ConsumersPerZone
	var consWG sync.WaitGroup
	consDone := make(chan struct{})
	var consEnd atomic.Int64
	k := 0
	for _, z := range cfg.Zones {
		for range cfg.ConsumersPerZone {
			parts := map[int32]kgo.Offset{}
			for p := int32(0); p < cfg.Partitions; p++ {
				if int(p)%K == k {
					parts[p] = kgo.NewOffset().AtStart()
				}
			}
			k++
			if len(parts) == 0 {
				continue
			}
			opts := append(clientOpts(z, "consume"), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}))
			cl, err := kgo.NewClient(opts...)
			if err != nil {
				return 0, 0, 0, 0, err
			}
			consWG.Add(1)
			go func() {
				defer consWG.Done()
				defer cl.Close()
				for ctx.Err() == nil {
					fs := cl.PollFetches(ctx)
					if ctx.Err() != nil {
						return
					}
					fs.EachError(func(t string, p int32, err error) { fail(fmt.Errorf("fetch %s/%d: %w", t, p, err)) })
					var n, b int64
					fs.EachRecord(func(r *kgo.Record) { n++; b += int64(len(r.Value)) })
					readBytes.Add(b)
					if readRecords.Add(n) >= records {
						if consEnd.CompareAndSwap(0, time.Now().UnixNano()) {
							close(consDone)
						}
						return
					}
				}
			}()
		}
	}

	// Producers: each sends its share, paced when cfg.Rate is set.
	P := len(cfg.Zones) * cfg.ProducersPerZone
	var prodWG sync.WaitGroup
	i := 0
	for _, z := range cfg.Zones {
		for range cfg.ProducersPerZone {
			share := records / int64(P)
			if int64(i) < records%int64(P) {
				share++
			}
			i++
			opts := append(clientOpts(z, "produce"), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond),
				kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordRetries(20))
			cl, err := kgo.NewClient(opts...)
			if err != nil {
				return 0, 0, 0, 0, err
			}
			prodWG.Add(1)
			go func(seed int) {
				defer prodWG.Done()
				defer cl.Close()
				perProducer := cfg.Rate / float64(P)
				t0 := time.Now()
				for j := int64(0); j < share && ctx.Err() == nil; j++ {
					if perProducer > 0 {
						due := t0.Add(time.Duration(float64(j*int64(cfg.RecordSize)) / perProducer * float64(time.Second)))
						if d := time.Until(due); d > 0 {
							select {
							case <-ctx.Done():
							case <-time.After(d):
							}
						}
					}
					off := int((int64(seed)*7919 + j*4099) % int64(len(payload)-cfg.RecordSize))
					r := &kgo.Record{Value: payload[off : off+cfg.RecordSize]}
					cl.Produce(ctx, r, func(r *kgo.Record, err error) {
						if err != nil {
							if ctx.Err() == nil {
								fail(fmt.Errorf("produce: %w", err))
							}
							return
						}
						ackedBytes.Add(int64(len(r.Value)))
					})
				}
				if err := cl.Flush(ctx); err != nil && ctx.Err() == nil {
					fail(err)
				}
			}(i)
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	prodFinished := make(chan struct{})
	go func() { prodWG.Wait(); close(prodFinished) }()
	var prodEnd time.Time
	lastRead, lastProgress := int64(-1), time.Now()
	for {
		select {
		case <-prodFinished:
			if prodEnd.IsZero() {
				prodEnd = time.Now()
				prodFinished = nil
			}
		case <-consDone:
			consDone = nil
		case <-tick.C:
			say("%.0fs: produced %.1f MiB, consumed %.1f MiB", time.Since(start).Seconds(),
				float64(ackedBytes.Load())/(1<<20), float64(readBytes.Load())/(1<<20))
			if r := readBytes.Load(); r != lastRead {
				lastRead, lastProgress = r, time.Now()
			} else if !prodEnd.IsZero() && time.Since(lastProgress) > cfg.Drain {
				fail(fmt.Errorf("consumers made no progress for %s", cfg.Drain))
			}
		case <-ctx.Done():
		}
		if ctx.Err() != nil || (!prodEnd.IsZero() && consEnd.Load() != 0) {
			break
		}
	}
	cancel()
	consWG.Wait()
	prodWG.Wait()
	if prodEnd.IsZero() {
		prodEnd = time.Now()
	}
	prodDur = prodEnd.Sub(start)
	if e := consEnd.Load(); e != 0 {
		consDur = time.Unix(0, e).Sub(start)
	}
	errMu.Lock()
	defer errMu.Unlock()
	return prodDur, consDur, ackedBytes.Load(), readBytes.Load(), firstErr
}
