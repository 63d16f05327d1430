package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
)

// GiB is the unit the cost report is per: cloud providers bill "GB" of
// storage and transfer as 2^30 bytes.
const GiB = 1 << 30

// Prices is a public object storage and network price table (one region,
// one storage class), read from a JSON file such as
// bench/prices-aws-us-east-1.json.
type Prices struct {
	// Source says where the figures come from (URL and date read).
	Source string `json:"source"`
	Region string `json:"region"`
	// PutPer1000 is the price of 1,000 PUT, COPY, POST or LIST requests.
	PutPer1000 float64 `json:"put_copy_post_list_per_1000"`
	// GetPer1000 is the price of 1,000 GET, SELECT and all other requests
	// (HEAD included); DELETE is free.
	GetPer1000 float64 `json:"get_select_other_per_1000"`
	// StorageGBMonth is the price of storing one GB for a month.
	StorageGBMonth float64 `json:"storage_gb_month"`
	// CrossZoneGBEachWay is the price of one GB crossing availability
	// zones, charged once on each side (so twice per GB moved).
	CrossZoneGBEachWay float64 `json:"cross_zone_gb_each_way"`
}

// LoadPrices reads a price table.
func LoadPrices(path string) (Prices, error) {
	var p Prices
	b, err := os.ReadFile(path)
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%s: %w", path, err)
	}
	if p.PutPer1000 <= 0 || p.GetPer1000 <= 0 || p.StorageGBMonth <= 0 || p.CrossZoneGBEachWay < 0 {
		return p, fmt.Errorf("%s: every price must be set (put, get, storage > 0; cross-zone >= 0)", path)
	}
	return p, nil
}

// Requests is a count of bucket requests by billing tier.
type Requests struct {
	// PutTier is PUT, COPY, POST and LIST requests.
	PutTier float64 `json:"put_tier"`
	// GetTier is GET, HEAD and other requests.
	GetTier float64 `json:"get_tier"`
	// Free is DELETE requests.
	Free float64 `json:"free"`
}

// tiers sums an s3Counts snapshot by billing tier.
func (c s3Counts) tiers() Requests {
	var r Requests
	for class, m := range c {
		var n int64
		for _, x := range m {
			n += x.Requests
		}
		switch class {
		case classPut, classPost, classCopy, classList:
			r.PutTier += float64(n)
		case classDelete:
			r.Free += float64(n)
		default:
			r.GetTier += float64(n)
		}
	}
	return r
}

// Price is a priced quantity of work, in US dollars.
type Price struct {
	Requests  float64 `json:"requests_usd"`
	CrossZone float64 `json:"cross_zone_usd"`
	Total     float64 `json:"total_usd"`
}

// priceTraffic prices requests and cross-zone bytes.
func (p Prices) priceTraffic(r Requests, crossZoneBytes float64) Price {
	c := Price{
		Requests:  r.PutTier/1000*p.PutPer1000 + r.GetTier/1000*p.GetPer1000,
		CrossZone: crossZoneBytes / GiB * 2 * p.CrossZoneGBEachWay,
	}
	c.Total = c.Requests + c.CrossZone
	return c
}

// perGiB divides requests by the GiB they served (0 when none).
func (r Requests) perGiB(bytes float64) Requests {
	if bytes <= 0 {
		return Requests{}
	}
	g := bytes / GiB
	return Requests{PutTier: r.PutTier / g, GetTier: r.GetTier / g, Free: r.Free / g}
}

// KafkaModel is the cross-zone traffic of an Apache Kafka cluster spread
// over Zones zones with replication factor RF (each replica in another
// zone), clients spread evenly over the zones, computed, not measured:
//
//   - a producer reaches its partition's leader in another zone (Z-1)/Z of
//     the time;
//   - the leader sends every byte to RF-1 followers, each in another zone;
//   - a consumer reads from the leader, in another zone (Z-1)/Z of the
//     time, or from a replica in its own zone with fetch-from-follower
//     (KIP-392), which costs nothing across zones.
type KafkaModel struct {
	Zones int `json:"zones"`
	RF    int `json:"replication_factor"`
	// Cross-zone GiB moved per GiB produced: producer to leader, leader
	// to followers.
	ProduceClientCrossGiB float64 `json:"produce_client_cross_zone_gib_per_gib"`
	ReplicationCrossGiB   float64 `json:"replication_cross_zone_gib_per_gib"`
	// Cross-zone GiB per GiB consumed, from the leader.
	ConsumeCrossGiB float64 `json:"consume_cross_zone_gib_per_gib"`
	// Priced per GiB.
	ProduceUSDPerGiB            float64 `json:"produce_usd_per_gib"`
	ConsumeUSDPerGiB            float64 `json:"consume_usd_per_gib"`
	ConsumeFetchFromFollowerUSD float64 `json:"consume_fetch_from_follower_usd_per_gib"`
}

// kafkaModel computes KafkaModel at prices p.
func kafkaModel(zones, rf int, p Prices) KafkaModel {
	m := KafkaModel{Zones: zones, RF: rf}
	if zones < 1 || rf < 1 {
		return m
	}
	away := float64(zones-1) / float64(zones)
	m.ProduceClientCrossGiB = away
	// Followers outside the leader's zone: all of them when there are
	// enough zones for one replica each, else as many zones as remain.
	m.ReplicationCrossGiB = float64(min(rf-1, zones-1))
	m.ConsumeCrossGiB = away
	perGiB := 2 * p.CrossZoneGBEachWay
	m.ProduceUSDPerGiB = (m.ProduceClientCrossGiB + m.ReplicationCrossGiB) * perGiB
	m.ConsumeUSDPerGiB = m.ConsumeCrossGiB * perGiB
	m.ConsumeFetchFromFollowerUSD = 0
	return m
}

// Design is the seeds' cost model for a run: one PUT per agent per batch
// window (or per --batch-max-bytes of data, when files fill first; an
// agent writes at most one file that is not full per window, so its PUTs
// stay under the sum of the two bounds), and about one GET per cached
// block per zone.
type Design struct {
	// PutsWindowBound is agents × produce seconds / batch window: the
	// PUTs of agents that each flush once a window.
	PutsWindowBound float64 `json:"puts_window_bound"`
	// PutsSizeBound is produced bytes / batch-max-bytes: the fewest files
	// the data fits in.
	PutsSizeBound float64 `json:"puts_size_bound"`
	// Blocks is the number of cache blocks the produced files span, as a
	// range: max(files, bytes/block) .. files + bytes/block.
	BlocksLow  float64 `json:"blocks_low"`
	BlocksHigh float64 `json:"blocks_high"`
	// GetsPerZone is about one GET per block per zone: Blocks (low..high)
	// for each zone that consumes.
	GetsLow  float64 `json:"consume_gets_low"`
	GetsHigh float64 `json:"consume_gets_high"`
}

// design computes the seeds' figures for agents that produced bytes (in
// files files) over produceSeconds, read back in zones zones.
func design(agents int, produceSeconds, window, bytes, maxFileBytes, files, blockSize float64, zones int) Design {
	d := Design{}
	if window > 0 {
		d.PutsWindowBound = math.Round(float64(agents) * produceSeconds / window)
	}
	if maxFileBytes > 0 {
		d.PutsSizeBound = math.Ceil(bytes / maxFileBytes)
	}
	if blockSize > 0 {
		byBytes := math.Ceil(bytes / blockSize)
		d.BlocksLow = math.Max(files, byBytes)
		d.BlocksHigh = files + byBytes
	}
	d.GetsLow = d.BlocksLow * float64(zones)
	d.GetsHigh = d.BlocksHigh * float64(zones)
	return d
}

// storageUSDPerGiBMonth is what keeping one produced GiB for a month costs
// when the bucket holds ratio bytes per byte produced.
func (p Prices) storageUSDPerGiBMonth(ratio float64) float64 { return ratio * p.StorageGBMonth }

// perGiB is x per GiB of bytes (0 when bytes is 0).
func perGiB(x, bytes float64) float64 {
	if bytes <= 0 {
		return 0
	}
	return x / (bytes / GiB)
}
