package kafka

// DescribeUserScramCredentials (key 50), version 0.
//
// Lists users' SCRAM mechanisms and iteration counts from the credential
// store (never salts or keys). Null users lists every user with a
// credential; a named user without one gets RESOURCE_NOT_FOUND, a user
// named twice DUPLICATE_RESOURCE (each once), as Kafka answers. A store
// failure fails the request with its retriable error. Who may call it is
// the authorizer's (DESCRIBE on CLUSTER).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/auth"
)

func (s *Server) handleDescribeUserScramCredentials(ctx context.Context, req *request, m *kmsg.DescribeUserSCRAMCredentialsRequest) kmsg.Response {
	resp := kmsg.NewPtrDescribeUserSCRAMCredentialsResponse()
	resp.Version = req.version
	if !s.authorizeCluster(req, kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	if s.scram == nil {
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		resp.ErrorMessage = kmsg.StringPtr("this agent has no SCRAM credential store")
		return resp
	}
	var users []string
	count := map[string]int{}
	if m.Users != nil {
		users = []string{}
		for _, u := range m.Users {
			if count[u.Name]++; count[u.Name] == 1 {
				users = append(users, u.Name)
			}
		}
	}
	creds, err := s.scram.ScramCredentials(ctx, users)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		resp.ErrorMessage = kmsg.StringPtr(err.Error())
		s.metrics.errorCode(req.key, resp.ErrorCode)
		return resp
	}
	byUser := map[string][]auth.ScramCredential{}
	order := users
	for _, c := range creds {
		if _, seen := byUser[c.User]; !seen && m.Users == nil {
			order = append(order, c.User)
		}
		byUser[c.User] = append(byUser[c.User], c)
	}
	for _, u := range order {
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = u
		switch {
		case count[u] > 1:
			r.ErrorCode = kerr.DuplicateResource.Code
			r.ErrorMessage = kmsg.StringPtr("Cannot describe SCRAM credentials for the same user twice in a single request: " + u)
		case len(byUser[u]) == 0:
			r.ErrorCode = kerr.ResourceNotFound.Code
			r.ErrorMessage = kmsg.StringPtr("Attempt to describe a user credential that does not exist: " + u)
		}
		if r.ErrorCode == 0 {
			for _, c := range byUser[u] {
				ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
				ci.Mechanism, ci.Iterations = int8(c.Mechanism), int32(c.Iterations)
				r.CredentialInfos = append(r.CredentialInfos, ci)
			}
		}
		s.metrics.errorCode(req.key, r.ErrorCode)
		resp.Results = append(resp.Results, r)
	}
	return resp
}
