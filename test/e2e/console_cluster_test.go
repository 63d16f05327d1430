package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConsoleGroupOtherAgent runs two `sluice agent`s with --console-auth
// scram and a cluster secret, logs in to the console of agent 1 with the
// form (a session cookie, which only agent 1 knows), and opens a group
// that agent 2 coordinates: its page and its API answer with the group,
// and a reset through agent 1 is made on agent 2 as the logged-in user.
// The overview merges agent 2's traffic and version. A request that
// names a principal without the secret is refused.
func TestConsoleGroupOtherAgent(t *testing.T) {
	t.Parallel()
	const secret = "console-cluster-secret-0123456789"
	c := StartCluster(t, clusterOpts{zones: []string{"a", "a"}, extra: []string{"--console-auth", "scram", "--cluster-secret", secret}})
	a1, a2 := c.Agents[0], c.Agents[1]
	ctx := testContext(t, 90*time.Second)

	// The Kafka listener is unsecured (ACLs off): an admin client makes
	// the console's user and the groups.
	cl := a1.Client()
	adm := kadm.NewClient(cl)
	if res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "ops", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "ops-pw"}}); err != nil || res.Error() != nil {
		t.Fatalf("create user: %v %+v", err, res)
	}
	a1.CreateTopic("jobs", 1)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "jobs", Value: []byte("x")}, &kgo.Record{Topic: "jobs", Value: []byte("y")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "jobs", Partition: 0, At: 0, LeaderEpoch: -1})
	// A group agent 2 coordinates, once agent 1 sees agent 2 live
	// (groups map to the live agents agent 1 knows). A raw Metadata
	// request asks agent 1; kadm's answers from the client's cache.
	for {
		md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(md.Brokers) == 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("agent 1 sees %d agents, want 2", len(md.Brokers))
		case <-time.After(50 * time.Millisecond):
		}
	}
	group := ""
	for i := 0; group == ""; i++ {
		if i == 200 {
			t.Fatal("no group coordinated by agent 2")
		}
		id := fmt.Sprint("workers-", i)
		r := adm.FindGroupCoordinators(ctx, id)[id]
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if r.NodeID == a2.NodeID {
			group = id
		}
	}
	if resp, err := adm.CommitOffsets(ctx, group, offs); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	base := "http://" + a1.HTTPAddr
	resp, err := browser.PostForm(base+"/login", url.Values{"user": {"ops"}, "password": {"ops-pw"}, "next": {"/groups/" + group}})
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, resp)
	// The login redirects to the group's page: rendered by agent 1 from
	// agent 2's answer.
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/groups/"+group || !strings.Contains(page, "Group "+group) || !strings.Contains(page, `id="total-lag">2<`) {
		t.Fatalf("group page after login: %d %s\n%s", resp.StatusCode, resp.Request.URL, page)
	}
	resp, err = browser.Get(base + "/api/v1/groups/" + group)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, `"total_lag": 2`) {
		t.Fatalf("group API with the session: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/groups/"+group+"/reset-offsets", strings.NewReader(`{"to": "latest"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err = browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, `"new_offset": 2`) {
		t.Fatalf("reset through agent 1: %d %s", resp.StatusCode, body)
	}
	fetched, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup("jobs", 0); !ok || o.At != 2 {
		t.Fatalf("committed after the reset: %+v", fetched)
	}
	// The overview shows agent 2's version, asked of agent 2.
	resp, err = browser.Get(base + "/api/v1/cluster")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || strings.Count(body, `"version"`) < 3 {
		t.Fatalf("cluster: %d %s", resp.StatusCode, body)
	}

	// Naming a principal takes the secret.
	for _, s := range []string{"", "wrong"} {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+a2.HTTPAddr+"/api/v1/groups/"+group, nil)
		req.Header.Set("X-Sluice-Principal", "User:ops")
		if s != "" {
			req.Header.Set("X-Sluice-Cluster-Secret", s)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); resp.StatusCode != 401 || !strings.Contains(body, "UNAUTHENTICATED") {
			t.Fatalf("a principal named with secret %q: %d %s", s, resp.StatusCode, body)
		}
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
