package postgres

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/metadata/sequencer"
)

// producerInRowMigration gives each partitions row the sequence state of
// up to rowProducers of its producers (issue #24: a 1,000-partition commit
// read and rewrote 1,000 producers rows besides the 1,000 partitions rows
// it locks and updates; docs/performance.md, "Producer state in the
// partition's row"). A producer's state is in its partition's row if the
// row names it, otherwise in the producers table, which may also keep an
// outdated row for a producer the partition's row names (never read).
// Binaries before it would read the producers table alone and take a
// retried batch for a new one, so they refuse the schema.
const producerInRowMigration = `ALTER TABLE partitions ADD COLUMN producer_states text;
	COMMENT ON COLUMN partitions.producer_states IS
	'sequence state of up to 4 producers, theirs rather than the producers table''s: "id epoch recent" joined by ";", recent as in producers';`

// rowProducers is how many producers' state a partitions row holds. A
// commit writes the state of each of its producers to the row, and
// moves the producers whose newest batch is oldest to the producers table
// when more than this many are left: a partition with up to this many
// active producers (one per zone's agents, say, or a few clients) never
// touches the producers table, and one whose producers come and go (a
// restarted client gets a new producer ID) moves the gone ones out.
const rowProducers = 4

// rowProducer is one producer's state as a partitions row stores it.
type rowProducer struct {
	id     int64
	epoch  int16
	recent string // sequencer.AppendRecentCompact's form
	// last is the base offset of the newest batch in recent, or -1
	// before it is known (lastBase).
	last int64
}

var errBadRowProducers = errors.New("malformed partitions.producer_states")

// parseRowProducers decodes a partitions row's producer_states.
func parseRowProducers(s string) ([]rowProducer, error) {
	if s == "" {
		return nil, nil
	}
	out := make([]rowProducer, 0, strings.Count(s, ";")+2)
	for e := range strings.SplitSeq(s, ";") {
		idText, rest, ok1 := strings.Cut(e, " ")
		epochText, recent, ok2 := strings.Cut(rest, " ")
		id, err1 := strconv.ParseInt(idText, 10, 64)
		epoch, err2 := strconv.ParseInt(epochText, 10, 16)
		if !ok1 || !ok2 || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%w: %q", errBadRowProducers, s)
		}
		out = append(out, rowProducer{id: id, epoch: int16(epoch), recent: recent, last: -1})
	}
	return out, nil
}

// appendRowProducers encodes producers as parseRowProducers reads them.
func appendRowProducers(buf []byte, producers []rowProducer) []byte {
	for i, p := range producers {
		if i > 0 {
			buf = append(buf, ';')
		}
		buf = strconv.AppendInt(buf, p.id, 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(p.epoch), 10)
		buf = append(buf, ' ')
		buf = append(buf, p.recent...)
	}
	return buf
}

// lastBase returns the base offset of p's newest batch, -1 if it has
// none; an unreadable state counts as oldest.
func (p *rowProducer) lastBase() int64 {
	if p.last < 0 {
		if batches, err := sequencer.ParseRecent([]byte(p.recent)); err == nil && len(batches) > 0 {
			p.last = batches[len(batches)-1].Base
		}
	}
	return p.last
}

// setRowProducer puts p's state in producers, replacing the producer's
// entry if it has one (in place, so an unchanged prefix of the row stays
// unchanged), and returns the result.
func setRowProducer(producers []rowProducer, p rowProducer) []rowProducer {
	for i := range producers {
		if producers[i].id == p.id {
			producers[i] = p
			return producers
		}
	}
	return append(producers, p)
}

// evictRowProducers removes from producers, once more than rowProducers
// are left, those whose newest batch is oldest, and returns what is left
// (in its order) and what was removed.
func evictRowProducers(producers []rowProducer) (kept, evicted []rowProducer) {
	if len(producers) <= rowProducers {
		return producers, nil
	}
	byAge := make([]int, len(producers))
	for i := range byAge {
		byAge[i] = i
	}
	slices.SortStableFunc(byAge, func(a, b int) int {
		la, lb := producers[a].lastBase(), producers[b].lastBase()
		switch {
		case la < lb:
			return -1
		case la > lb:
			return 1
		}
		return 0
	})
	out := make([]bool, len(producers))
	for _, i := range byAge[:len(producers)-rowProducers] {
		out[i] = true
	}
	for i, p := range producers {
		if out[i] {
			evicted = append(evicted, p)
		} else {
			kept = append(kept, p)
		}
	}
	return kept, evicted
}
