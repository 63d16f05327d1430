package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// txnHistory records what a consume-transform-produce chain did, for
// checkHistory: every transaction attempt with the records it produced,
// whether it committed, and the group offsets it meant to commit.
type txnHistory struct {
	mu       sync.Mutex
	attempts map[string]*txnAttempt // by attempt name ("s1a7")
	// violations found while running (open-transaction visibility,
	// offsets of aborted transactions).
	violations []string
}

type txnAttempt struct {
	stage     int
	committed bool
	ended     bool
	values    []string
}

func (h *txnHistory) violate(format string, args ...any) {
	h.mu.Lock()
	h.violations = append(h.violations, fmt.Sprintf(format, args...))
	h.mu.Unlock()
}

// checkHistory returns what is wrong with a stage's read_committed output
// given the history: duplicates (an input twice), lost acknowledged
// records (an acknowledged input missing), aborted records visible,
// records of attempts that never ended visible, and the violations
// recorded while running (open-transaction records below the last stable
// offset, offsets moved by an aborted transaction).
func checkHistory(h *txnHistory, stage int, inputs []string, visible []string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var bad []string
	errorf := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	bad = append(bad, h.violations...)
	h.violations = nil
	byInput := map[string]int{}
	for _, v := range visible {
		parts := strings.Split(v, "|")
		if len(parts) != stage+1 {
			errorf("stage %d: malformed record %q", stage, v)
			continue
		}
		byInput[parts[0]]++
		for s := 1; s <= stage; s++ {
			a := h.attempts[parts[s]]
			switch {
			case a == nil:
				errorf("stage %d: record %q from an unknown attempt %s", stage, v, parts[s])
			case !a.ended:
				errorf("stage %d: record %q of open attempt %s visible", stage, v, parts[s])
			case !a.committed:
				errorf("stage %d: record %q of aborted attempt %s visible to read_committed", stage, v, parts[s])
			}
		}
	}
	for _, in := range inputs {
		switch n := byInput[in]; {
		case n == 0:
			errorf("stage %d: acknowledged input %s lost", stage, in)
		case n > 1:
			errorf("stage %d: input %s appears %d times", stage, in, n)
		}
		delete(byInput, in)
	}
	for in := range byInput {
		errorf("stage %d: output for input %s that was never acknowledged", stage, in)
	}
	return bad
}

// TestHistoryChecker proves the checker catches each kind of violation.
func TestHistoryChecker(t *testing.T) {
	t.Parallel()
	mk := func() *txnHistory {
		return &txnHistory{attempts: map[string]*txnAttempt{
			"s1a0": {stage: 1, ended: true, committed: true},
			"s1a1": {stage: 1, ended: true},
			"s1a2": {stage: 1},
		}}
	}
	inputs := []string{"in-1", "in-2"}
	if bad := checkHistory(mk(), 1, inputs, []string{"in-1|s1a0", "in-2|s1a0"}); len(bad) != 0 {
		t.Fatalf("clean history flagged: %v", bad)
	}
	for name, visible := range map[string][]string{
		"duplicate":      {"in-1|s1a0", "in-2|s1a0", "in-2|s1a0"},
		"lost":           {"in-1|s1a0"},
		"aborted":        {"in-1|s1a0", "in-2|s1a0", "in-2|s1a1"},
		"open":           {"in-1|s1a0", "in-2|s1a2"},
		"unacknowledged": {"in-1|s1a0", "in-2|s1a0", "in-3|s1a0"},
	} {
		if bad := checkHistory(mk(), 1, inputs, visible); len(bad) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
	h := mk()
	h.violate("offsets moved by an aborted transaction")
	if bad := checkHistory(h, 1, inputs, []string{"in-1|s1a0", "in-2|s1a0"}); len(bad) != 1 {
		t.Errorf("recorded violation not reported: %v", bad)
	}
}

// runStage runs one GroupTransactSession stage from src to dst until it
// has committed output for want inputs, aborting every abortEvery-th
// transaction. Before ending each transaction it checks that the records
// it produced are above dst's last stable offset (invisible); after each
// abort, that the group's committed offsets did not move.
func runStage(ctx context.Context, t *testing.T, a *Agent, h *txnHistory, stage int, src, dst, group string, want, abortEvery int) error {
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(a.KafkaAddr), kgo.TransactionalID(fmt.Sprintf("chain-stage-%d", stage)),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(src), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.RequireStableFetchOffsets(), kgo.DefaultProduceTopic(dst),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.RetryTimeout(30*time.Second), kgo.TransactionTimeout(30*time.Second))
	if err != nil {
		return err
	}
	defer sess.Close()
	adm := kadm.NewClient(sess.Client())
	done := map[string]bool{}
	var lastCommitted kadm.OffsetResponses
	for n := 0; len(done) < want; {
		if ctx.Err() != nil {
			return fmt.Errorf("stage %d: %d of %d inputs committed: %w", stage, len(done), want, ctx.Err())
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := sess.PollRecords(pctx, 15)
		cancel()
		var ferr error
		fs.EachError(func(tp string, p int32, err error) {
			if err != context.DeadlineExceeded && err != context.Canceled {
				ferr = fmt.Errorf("fetch %s[%d]: %w", tp, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		if fs.NumRecords() == 0 {
			continue
		}
		name := fmt.Sprintf("s%da%d", stage, n)
		n++
		att := &txnAttempt{stage: stage}
		h.mu.Lock()
		h.attempts[name] = att
		h.mu.Unlock()
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		var inputs []string
		minOffset := map[int32]int64{}
		var perr error
		fs.EachRecord(func(r *kgo.Record) {
			if perr != nil {
				return
			}
			v := string(r.Value) + "|" + name
			res := sess.ProduceSync(ctx, &kgo.Record{Key: r.Key, Value: []byte(v)})
			out, err := res.First()
			if err != nil {
				perr = err
				return
			}
			if o, ok := minOffset[out.Partition]; !ok || out.Offset < o {
				minOffset[out.Partition] = out.Offset
			}
			h.mu.Lock()
			att.values = append(att.values, v)
			h.mu.Unlock()
			inputs = append(inputs, strings.SplitN(string(r.Value), "|", 2)[0])
		})
		if perr != nil {
			return fmt.Errorf("produce: %w", perr)
		}
		// Open transaction: its records must be above the last stable offset.
		if lso, err := adm.ListCommittedOffsets(ctx, dst); err == nil {
			for p, first := range minOffset {
				if l, ok := lso.Lookup(dst, p); ok && l.Offset > first {
					h.violate("attempt %s: %s[%d] last stable offset %d is past its open record at %d", name, dst, p, l.Offset, first)
				}
			}
		}
		abort := abortEvery > 0 && n%abortEvery == 0
		committed, err := sess.End(ctx, kgo.TransactionEndTry(!abort))
		if err != nil {
			return fmt.Errorf("end %s: %w", name, err)
		}
		h.mu.Lock()
		att.ended, att.committed = true, committed
		h.mu.Unlock()
		offs, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return fmt.Errorf("fetch offsets: %w", err)
		}
		if committed {
			for _, in := range inputs {
				done[in] = true
			}
			lastCommitted = offs
			continue
		}
		// Aborted: the group's offsets must be what the last commit left.
		offs.Each(func(o kadm.OffsetResponse) {
			prev, ok := lastCommitted.Lookup(o.Topic, o.Partition)
			if !ok && o.At >= 0 || ok && prev.At != o.At {
				h.violate("attempt %s aborted but %s[%d] offset moved to %d (last commit left %d)", name, o.Topic, o.Partition, o.At, prev.At)
			}
		})
	}
	return nil
}

// TestGroupTransactSessionChain runs a two-stage consume-transform-produce
// chain (in → mid → out) of franz-go GroupTransactSessions over several
// topics, each aborting every third transaction, then checks the recorded
// history against what read_committed consumers see.
func TestGroupTransactSessionChain(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "20ms")
	ctx := testContext(t, 4*time.Minute)
	a.CreateTopic("chain-in", 3)
	a.CreateTopic("chain-mid", 2)
	a.CreateTopic("chain-out", 3)

	const n = 200
	p := a.Client(kgo.DefaultProduceTopic("chain-in"))
	var inputs []string
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("in-%04d", i)
		if err := p.ProduceSync(ctx, &kgo.Record{Key: []byte(v), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, v)
	}

	h := &txnHistory{attempts: map[string]*txnAttempt{}}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for stage := 1; stage <= 2; stage++ {
		src, dst := "chain-in", "chain-mid"
		if stage == 2 {
			src, dst = "chain-mid", "chain-out"
		}
		wg.Add(1)
		go func(stage int, src, dst string) {
			defer wg.Done()
			errs[stage] = runStage(ctx, t, a, h, stage, src, dst, fmt.Sprintf("chain-g%d", stage), n, 3)
		}(stage, src, dst)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	aborted := 0
	for _, at := range h.attempts {
		if at.ended && !at.committed {
			aborted++
		}
	}
	if aborted == 0 {
		t.Fatal("no transaction was aborted; the test proved nothing")
	}
	mid := consumeValues(t, ctx, a, "chain-mid", true, n, 2*time.Second)
	for _, bad := range checkHistory(h, 1, inputs, mid) {
		t.Error(bad)
	}
	out := consumeValues(t, ctx, a, "chain-out", true, n, 2*time.Second)
	for _, bad := range checkHistory(h, 2, inputs, out) {
		t.Error(bad)
	}
	// Both groups committed up to the end of their input: exactly for the
	// plain input, up to the closing commit marker for the transactional one.
	for stage, src := range map[int]string{1: "chain-in", 2: "chain-mid"} {
		slack := int64(stage - 1)
		offs, err := a.Admin().FetchOffsets(ctx, fmt.Sprintf("chain-g%d", stage))
		if err != nil {
			t.Fatal(err)
		}
		ends, _ := a.Admin().ListEndOffsets(ctx, src)
		ends.Each(func(e kadm.ListedOffset) {
			o, _ := offs.Lookup(src, e.Partition)
			if e.Offset > 0 && (o.At > e.Offset || o.At < e.Offset-slack) {
				t.Errorf("group chain-g%d %s[%d]: committed %d, end %d", stage, src, e.Partition, o.At, e.Offset)
			}
		})
	}
	t.Logf("%d attempts, %d aborted", len(h.attempts), aborted)
}
