package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupsCLI drives `sluice groups list|describe|delete|reset-offsets`
// against a group with a live member, then without.
func TestGroupsCLI(t *testing.T) {
	t.Parallel()
	a := StartAgent(t, "", "--batch-timeout", "5ms")
	ctx := testContext(t, 60*time.Second)
	adm := a.Admin()
	const topic, group = "cli-grp", "cli-g"
	a.CreateTopic(topic, 2)
	// Ten records per partition, partition 0's at base+0s, base+1s, ...
	base := time.UnixMilli(1_700_000_000_000)
	prod := grpProducer(a)
	tr := newGrpTracker(t, topic)
	var rs []*kgo.Record
	for i := 0; i < 20; i++ {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(fmt.Sprintf("cli-%02d", i)),
			Timestamp: base.Add(time.Duration(i/2) * time.Second)})
	}
	if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		tr.produced[string(r.Value)] = grpPos{r.Partition, r.Offset}
	}
	m := grpStart(t, a, tr, "cli-member", group)
	tr.waitOwners(20*time.Second, 2, m)
	tr.waitProcessed(20 * time.Second)

	match := func(out, pattern string) {
		t.Helper()
		if !regexp.MustCompile(pattern).MatchString(out) {
			t.Fatalf("output does not match %q:\n%s", pattern, out)
		}
	}
	committed := func(p0, p1 int64) {
		t.Helper()
		c, _ := grpOffsets(t, ctx, adm, group, topic)
		if c[0] != p0 || c[1] != p1 {
			t.Fatalf("committed %v, want 0:%d 1:%d", c, p0, p1)
		}
	}

	match(a.mustCLI(t, "", "groups", "list"), `(?m)^cli-g\s+Stable\s+consumer$`)
	if out := a.mustCLI(t, "", "groups", "list", "--state", "Empty"); strings.Contains(out, group) {
		t.Fatalf("list --state Empty shows the stable group:\n%s", out)
	}
	out := a.mustCLI(t, "", "groups", "describe", group)
	match(out, `group cli-g\s+state Stable\s+protocol consumer/cooperative-sticky\s+coordinator 1\s+members 1`)
	match(out, `(?m)^cli-member-\S+\s+-\s+cli-member\s+/127\.0\.0\.1\s+cli-grp\[0 1\]$`)
	match(out, `(?m)^cli-grp\s+0\s+10\s+10\s+0\s+cli-member-\S+$`)
	match(out, `(?m)^cli-grp\s+1\s+10\s+10\s+0\s+cli-member-\S+$`)
	if out, err := a.cli(t, "", "groups", "reset-offsets", group, "--topic", topic, "--to-earliest"); err == nil || !strings.Contains(out, "1 active members") {
		t.Fatalf("reset of an active group: err %v, output %s", err, out)
	}
	if out, err := a.cli(t, "", "groups", "delete", group); err == nil || !strings.Contains(out, "NON_EMPTY_GROUP") {
		t.Fatalf("delete of an active group: err %v, output %s", err, out)
	}
	committed(10, 10)

	m.leave()
	out = a.mustCLI(t, "", "groups", "describe", group)
	match(out, `group cli-g\s+state Empty\s+protocol consumer\s+coordinator 1\s+members 0`)
	match(out, `(?m)^cli-grp\s+0\s+10\s+10\s+0\s+-$`)

	out = a.mustCLI(t, "", "groups", "reset-offsets", group, "--topic", topic, "--to-earliest", "--dry-run")
	match(out, `(?m)^cli-grp\s+0\s+10\s+0$`)
	match(out, `(?m)^cli-grp\s+1\s+10\s+0$`)
	match(out, `dry run: nothing committed`)
	committed(10, 10)

	out = a.mustCLI(t, "", "groups", "reset-offsets", group, "--topic", topic, "--to-earliest")
	match(out, `reset 2 partitions of topic cli-grp for group cli-g`)
	committed(0, 0)
	match(a.mustCLI(t, "", "groups", "describe", group), `(?m)^cli-grp\s+1\s+0\s+10\s+10\s+-$`)

	a.mustCLI(t, "", "groups", "reset-offsets", group, "--topic", topic, "--to-latest", "--partitions", "1")
	committed(0, 10)
	a.mustCLI(t, "", "groups", "reset-offsets", group, "--topic", topic, "--to-offset", "999")
	committed(10, 10)
	a.mustCLI(t, "", "groups", "reset-offsets", group, "--topic", topic, "--to-offset", "4")
	committed(4, 4)
	// Partition 0's record i is stamped base+i s: the first at or after
	// base+6.5s is offset 7. Times past the last record give the end.
	a.mustCLI(t, "", "groups", "reset-offsets", group, "--topic", topic, "--partitions", "0",
		"--to-timestamp", fmt.Sprint(base.Add(6500*time.Millisecond).UnixMilli()))
	committed(7, 4)
	a.mustCLI(t, "", "groups", "reset-offsets", group, "--topic", topic, "--partitions", "1",
		"--to-timestamp", base.Add(time.Hour).UTC().Format(time.RFC3339))
	committed(7, 10)
	a.mustCLI(t, "", "groups", "reset-offsets", group, "--topic", topic, "--partitions", "1",
		"--to-timestamp", base.Add(2*time.Second).UTC().Format(time.RFC3339))
	committed(7, 2)
	for _, bad := range [][]string{
		{"--topic", topic},
		{"--topic", topic, "--to-earliest", "--to-latest"},
		{"--topic", topic, "--to-earliest", "--partitions", "5"},
		{"--topic", topic, "--to-timestamp", "yesterday"},
		{"--topic", "no-such-topic", "--to-earliest"},
	} {
		if out, err := a.cli(t, "", append([]string{"groups", "reset-offsets", group}, bad...)...); err == nil {
			t.Errorf("reset-offsets %v succeeded:\n%s", bad, out)
		}
	}
	committed(7, 2)

	// A new member starts where the reset put the group: partition 0 at
	// 7, partition 1 at 2.
	before := tr.processedBy("cli-after")
	m2 := grpStart(t, a, tr, "cli-after", group)
	grpWait(t, 20*time.Second, func() string { return "the new member to read 3+8 records" }, func() bool {
		return tr.processedBy("cli-after")-before >= 11
	})
	m2.leave()
	tr.mu.Lock()
	var first [2]int64
	first[0], first[1] = -1, -1
	n := 0
	for _, p := range tr.procs {
		if p.member == "cli-after" {
			n++
			if first[p.pos.Partition] < 0 {
				first[p.pos.Partition] = p.pos.Offset
			}
		}
	}
	tr.mu.Unlock()
	if n != 11 || first != [2]int64{7, 2} {
		t.Errorf("after the reset a new member read %d records starting at %v, want 11 from [7 2]", n, first)
	}

	a.mustCLI(t, "", "groups", "delete", group)
	if out, err := a.cli(t, "", "groups", "describe", group); err == nil || !strings.Contains(out, "does not exist") {
		t.Errorf("describe after delete: err %v, output %s", err, out)
	}
	if out, err := a.cli(t, "", "groups", "delete", group); err == nil || !strings.Contains(out, "GROUP_ID_NOT_FOUND") {
		t.Errorf("second delete: err %v, output %s", err, out)
	}
	if out := a.mustCLI(t, "", "groups", "list"); strings.Contains(out, group) {
		t.Errorf("list after delete:\n%s", out)
	}
}
