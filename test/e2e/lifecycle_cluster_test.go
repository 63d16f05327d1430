package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testutil"
)

// jobRuns is how many runs of job an agent made while holding its lease.
func (a *ClusterAgent) jobRuns(job string) float64 {
	v, _ := a.Metric(fmt.Sprintf(`sluice_jobs_runs_total{job="%s",result="ok"}`, job))
	return v
}

// TestJobsLeasedInCluster runs three agents on PostgreSQL and S3 with the
// jobs every second: each job must run on exactly one agent, and when that
// agent is killed another takes its lease over once it expires.
func TestJobsLeasedInCluster(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, clusterOpts{zones: []string{"", "", ""}, extra: append([]string{"--batch-timeout", "20ms"}, fastJobs...)})
	ctx := testContext(t, 3*time.Minute)
	adm := kadm.NewClient(c.Client())
	if _, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": kadm.StringPtr("1000")}, "lc"); err != nil {
		t.Fatal(err)
	}
	a0 := c.Agents[0]
	a0.CreateTopic("lcc", 1)
	cl := c.Client()
	for i := 0; i < 30; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "lc", Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "lcc", Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	expired := func() bool {
		starts, err := adm.ListStartOffsets(ctx, "lc")
		ends, err2 := adm.ListEndOffsets(ctx, "lc")
		if err != nil || err2 != nil {
			return false
		}
		done := true
		ends.Each(func(e kadm.ListedOffset) {
			s, ok := starts.Lookup("lc", e.Partition)
			// A partition whose lookup failed counts as not expired:
			// both offsets would read -1 and look equal.
			done = done && ok && e.Err == nil && s.Err == nil && s.Offset == e.Offset
		})
		return done
	}
	eventually(t, "retention to empty every partition", expired)
	merged := func() bool {
		for _, a := range c.Agents {
			if v, _ := a.Metric("sluice_compaction_extents_replaced_total"); v > 0 {
				return true
			}
		}
		return false
	}
	eventually(t, "compaction on some agent", merged)
	var holder *ClusterAgent
	for _, job := range []string{"retention", "compaction", "file-deletion"} {
		var ran []int32
		for _, a := range c.Agents {
			if a.jobRuns(job) > 0 {
				ran = append(ran, a.NodeID)
				if job == "retention" {
					holder = a
				}
			}
		}
		if len(ran) != 1 {
			t.Fatalf("job %s ran on agents %v, want exactly one", job, ran)
		}
	}
	// The compacted topic reads back whole, through any agent.
	if got := c.Agents[2].ConsumeAll(ctx, "lcc"); len(got[0]) != 30 || got[0][29].Offset != 29 || string(got[0][29].Value) != "29" {
		t.Fatalf("lcc after compaction: %d records", len(got[0]))
	}

	// Kill the retention holder: after its lease expires (30s at these
	// intervals) another agent applies retention to new data.
	holder.Kill()
	for i := 0; i < 3; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "lc", Value: []byte("after")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	for !expired() {
		if time.Now().After(deadline) {
			t.Fatal("no agent took the retention lease over from the killed one")
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The job's ok counter is incremented after the job returns, so it
	// can lag the effect seen above: wait for it.
	took := func() (n int) {
		for _, a := range c.Agents {
			if a != holder && a.jobRuns("retention") > 0 {
				n++
			}
		}
		return n
	}
	deadline = time.Now().Add(30 * time.Second)
	for took() == 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if n := took(); n != 1 {
		t.Fatalf("%d surviving agents ran retention, want 1", n)
	}

	// The bucket matches the metadata.
	cmd := exec.Command(sluiceBin, "files", "verify", "--bucket-url", c.BucketURL, "--metadata-url", c.MetadataURL)
	cmd.Env = append(os.Environ(), c.S3.Env()...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "missing: 0") {
		t.Fatalf("sluice files verify: %v\n%s", err, out)
	}
	t.Logf("verify:\n%s", out)
}

// TestOrphanAfterKillBetweenUploadAndCommit stalls PostgreSQL so an
// agent's flush is uploaded but cannot commit, kills the agent with
// SIGKILL (an orphan file is left in S3), and checks that after restart the
// orphan sweep deletes it once it is older than --file-grace-period, while
// every committed record stays readable.
func TestOrphanAfterKillBetweenUploadAndCommit(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, clusterOpts{})
	direct := c.MetadataURL
	pgProxy := testutil.StartProxy(t, c.PG.Addr())
	c.MetadataURL = strings.Replace(direct, c.PG.Addr(), pgProxy.Addr(), 1)
	a := c.AddAgent("", "--batch-timeout", "20ms", "--retention-interval", "1s", "--file-grace-period", "3s")
	ctx := testContext(t, 3*time.Minute)
	a.CreateTopic("orph", 1)
	cl := c.Client()
	for i := 0; i < 3; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orph", Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	unreferenced := func() int {
		cmd := exec.Command(sluiceBin, "files", "verify", "--bucket-url", c.BucketURL, "--metadata-url", direct)
		cmd.Env = append(os.Environ(), c.S3.Env()...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("sluice files verify: %v\n%s", err, out)
		}
		_, rest, _ := strings.Cut(string(out), "unreferenced objects: ")
		var n int
		fmt.Sscan(rest, &n)
		return n
	}
	if n := unreferenced(); n != 0 {
		t.Fatalf("%d unreferenced objects before the crash", n)
	}

	// Produce once more so the agent's topic cache (1s) is fresh: the
	// next produce then needs the database only to commit.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orph", Value: []byte("3")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pgProxy.Stall()
	stuck := make(chan error, 1)
	cl.Produce(ctx, &kgo.Record{Topic: "orph", Value: []byte("never acknowledged")}, func(_ *kgo.Record, err error) { stuck <- err })
	eventually(t, "the flush to be uploaded while its commit hangs", func() bool { return unreferenced() > 0 })
	a.Kill()
	pgProxy.Heal()
	a.Restart()
	// The restarted agent is a new lease holder: it waits out the dead
	// one's leases (30s), then sweeps the orphan.
	deadline := time.Now().Add(90 * time.Second)
	for unreferenced() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the orphan was not swept")
		}
		time.Sleep(time.Second)
	}
	v, _ := a.Metric(`sluice_files_deleted_total{reason="orphan"}`)
	if v < 1 {
		t.Fatalf("orphan deletions reported: %v", v)
	}
	got := a.ConsumeAll(ctx, "orph")
	if len(got[0]) < 4 || string(got[0][3].Value) != "3" {
		t.Fatalf("committed records after the sweep: %d", len(got[0]))
	}
}
