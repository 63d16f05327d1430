package kafka

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestUserScramCredentials drives DescribeUserScramCredentials and
// AlterUserScramCredentials through kadm and by hand for the errors kadm
// checks before sending, then logs in with the credential it created.
func TestUserScramCredentials(t *testing.T) {
	ss := startSASLServer(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(ss.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	altered, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "bob-pw"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := altered["bob"].Err; err != nil {
		t.Fatalf("upsert bob: %v", err)
	}
	described, err := adm.DescribeUserSCRAMs(ctx, "bob", "nobody")
	if err != nil {
		t.Fatal(err)
	}
	if d := described["bob"]; d.Err != nil || len(d.CredInfos) != 1 || d.CredInfos[0].Mechanism != kadm.ScramSha512 || d.CredInfos[0].Iterations != 8192 {
		t.Fatalf("describe bob = %+v", d)
	}
	if err := described["nobody"].Err; !errors.Is(err, kerr.ResourceNotFound) {
		t.Fatalf("describe nobody: %v, want RESOURCE_NOT_FOUND", err)
	}
	all, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil || len(all) != 2 || len(all["alice"].CredInfos) != 2 {
		t.Fatalf("describe all = %+v, %v; want alice (2 mechanisms) and bob", all, err)
	}

	// bob logs in with the password kadm salted on the client.
	bob, err := kgo.NewClient(kgo.SeedBrokers(ss.saslAddr), kgo.SASL(scram.Auth{User: "bob", Pass: "bob-pw"}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if err := bob.Ping(ctx); err != nil {
		t.Fatalf("bob logs in: %v", err)
	}

	// Errors kadm does not let through: duplicates, unknown mechanisms,
	// empty names, deleting what is not there.
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	del := func(name string, mech int8) kmsg.AlterUserSCRAMCredentialsRequestDeletion {
		d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
		d.Name, d.Mechanism = name, mech
		return d
	}
	req.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestDeletion{del("bob", 2), del("bob", 2), del("carol", 9), del("", 1), del("dave", 1)}
	up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = "weak", 1, 100, []byte("salt"), []byte("salted")
	req.Upsertions = append(req.Upsertions, up)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int16{"bob": kerr.DuplicateResource.Code, "carol": kerr.UnsupportedSaslMechanism.Code, "": kerr.UnacceptableCredential.Code, "dave": kerr.ResourceNotFound.Code, "weak": kerr.UnacceptableCredential.Code}
	if len(resp.Results) != len(want) {
		t.Fatalf("results %+v, want one per user", resp.Results)
	}
	for _, r := range resp.Results {
		if r.ErrorCode != want[r.User] {
			t.Errorf("user %q: error %d, want %d", r.User, r.ErrorCode, want[r.User])
		}
	}
	dreq := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	for _, n := range []string{"bob", "bob"} {
		u := kmsg.NewDescribeUserSCRAMCredentialsRequestUser()
		u.Name = n
		dreq.Users = append(dreq.Users, u)
	}
	dresp, err := dreq.RequestWith(ctx, cl)
	if err != nil || len(dresp.Results) != 1 || dresp.Results[0].ErrorCode != kerr.DuplicateResource.Code {
		t.Fatalf("describing bob twice: %+v, %v; want one DUPLICATE_RESOURCE", dresp, err)
	}
	// The duplicate deletion left bob alone; a real one removes him.
	if altered, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "bob", Mechanism: kadm.ScramSha512}}, nil); err != nil || altered["bob"].Err != nil {
		t.Fatalf("delete bob: %+v, %v", altered, err)
	}
	if d, _ := adm.DescribeUserSCRAMs(ctx, "bob"); !errors.Is(d["bob"].Err, kerr.ResourceNotFound) {
		t.Fatalf("bob after delete: %+v", d["bob"])
	}
}
