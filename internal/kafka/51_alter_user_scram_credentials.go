package kafka

// AlterUserScramCredentials (key 51), version 0.
//
// Deletes and upserts SCRAM credentials in the credential store. An
// upsertion carries the salted password (the client salts; the password
// never reaches the agent) and the agent keeps only the stored and server
// keys derived from it. Kafka's checks and errors, per user: an empty
// name, an empty salt or salted password, or iterations outside [4096,
// 16384] UNACCEPTABLE_CREDENTIAL; an unknown mechanism
// UNSUPPORTED_SASL_MECHANISM; a user altered twice for one mechanism in
// the request DUPLICATE_RESOURCE; deleting a credential that does not
// exist RESOURCE_NOT_FOUND. A user's alterations are all checked before
// any is applied, so an invalid one leaves the user unchanged. Who may
// call it is the authorizer's (ALTER on CLUSTER).

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/auth"
)

// scramAlteration is one deletion (up nil) or upsertion of a user's
// credential.
type scramAlteration struct {
	mech auth.ScramMechanism
	up   *kmsg.AlterUserSCRAMCredentialsRequestUpsertion
}

func (s *Server) handleAlterUserScramCredentials(ctx context.Context, req *request, m *kmsg.AlterUserSCRAMCredentialsRequest) kmsg.Response {
	resp := kmsg.NewPtrAlterUserSCRAMCredentialsResponse()
	resp.Version = req.version
	var order []string
	alts := map[string][]scramAlteration{}
	add := func(user string, a scramAlteration) {
		if _, ok := alts[user]; !ok {
			order = append(order, user)
		}
		alts[user] = append(alts[user], a)
	}
	for _, d := range m.Deletions {
		add(d.Name, scramAlteration{mech: auth.ScramMechanism(d.Mechanism)})
	}
	for i := range m.Upsertions {
		u := &m.Upsertions[i]
		add(u.Name, scramAlteration{mech: auth.ScramMechanism(u.Mechanism), up: u})
	}
	allowed := s.authorizeCluster(req, kmsg.ACLOperationAlter)
	for _, user := range order {
		r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		r.User = user
		if !allowed {
			r.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			resp.Results = append(resp.Results, r)
			continue
		}
		code, msg := s.alterUserScram(ctx, user, alts[user])
		r.ErrorCode = code
		if msg != "" {
			r.ErrorMessage = &msg
		}
		s.metrics.errorCode(req.key, code)
		resp.Results = append(resp.Results, r)
	}
	return resp
}

// checkScramAlteration is Kafka's validation of one alteration.
func checkScramAlteration(a scramAlteration) (int16, string) {
	switch {
	case !a.mech.Valid():
		return kerr.UnsupportedSaslMechanism.Code, fmt.Sprintf("Unknown SCRAM mechanism %d", int8(a.mech))
	case a.up == nil:
		return 0, ""
	case a.up.Iterations < auth.MinScramIterations:
		return kerr.UnacceptableCredential.Code, fmt.Sprintf("Too few iterations: %d < %d", a.up.Iterations, auth.MinScramIterations)
	case a.up.Iterations > auth.MaxScramIterations:
		return kerr.UnacceptableCredential.Code, fmt.Sprintf("Too many iterations: %d > %d", a.up.Iterations, auth.MaxScramIterations)
	case len(a.up.Salt) == 0:
		return kerr.UnacceptableCredential.Code, "Salt must not be empty"
	case len(a.up.SaltedPassword) == 0:
		return kerr.UnacceptableCredential.Code, "Salted password must not be empty"
	}
	return 0, ""
}

// alterUserScram checks, then applies, one user's alterations.
func (s *Server) alterUserScram(ctx context.Context, user string, alts []scramAlteration) (int16, string) {
	if s.scram == nil {
		return kerr.UnsupportedVersion.Code, "this agent has no SCRAM credential store"
	}
	if user == "" {
		return kerr.UnacceptableCredential.Code, "Username must not be empty"
	}
	seen := map[auth.ScramMechanism]bool{}
	for _, a := range alts {
		if seen[a.mech] {
			return kerr.DuplicateResource.Code, "A user credential cannot be altered twice in the same request"
		}
		seen[a.mech] = true
		if code, msg := checkScramAlteration(a); code != 0 {
			return code, msg
		}
	}
	for _, a := range alts {
		if a.up != nil {
			continue
		}
		if _, err := s.scram.ScramCredential(ctx, user, a.mech); errors.Is(err, auth.ErrNoCredential) {
			return kerr.ResourceNotFound.Code, "Attempt to delete a user credential that does not exist"
		} else if err != nil {
			return errorCode(err), err.Error()
		}
	}
	for _, a := range alts {
		var err error
		if a.up == nil {
			err = s.scram.DeleteScramCredential(ctx, user, a.mech)
		} else {
			err = s.scram.UpsertScramCredential(ctx, auth.ScramCredentialFromSalted(user, a.mech, a.up.Salt, int(a.up.Iterations), a.up.SaltedPassword))
		}
		if errors.Is(err, auth.ErrNoCredential) {
			return kerr.ResourceNotFound.Code, "Attempt to delete a user credential that does not exist"
		}
		if err != nil {
			return errorCode(err), err.Error()
		}
	}
	return 0, ""
}
