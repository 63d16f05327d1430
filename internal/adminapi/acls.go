package adminapi

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/auth"
)

// ACLs and SCRAM users are read and changed with the Kafka API's own
// requests (DescribeAcls, CreateAcls, DeleteAcls,
// DescribeUserScramCredentials, AlterUserScramCredentials) sent through
// Kafka.Do as the request's principal: the same validation, the same
// CLUSTER authorization (DESCRIBE to list, ALTER to change) and the same
// audit records as from a Kafka admin client.

// ACL is one ACL binding, named as Kafka names its enums (TOPIC, LITERAL,
// READ, ALLOW).
type ACL struct {
	ResourceType string `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  string `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
}

// ACLFilter selects bindings; an empty field matches anything (ANY, or
// null for names), as Kafka's AclBindingFilter.
type ACLFilter struct {
	ResourceType string
	ResourceName string
	// PatternType is ANY when empty; MATCH selects the bindings that
	// apply to ResourceName (literal, wildcard and prefixed).
	PatternType string
	Principal   string
	Host        string
	Operation   string
	Permission  string
}

// ACLList is the answer of GET /api/v1/acls.
type ACLList struct {
	ACLs []ACL `json:"acls"`
}

func enumOr[T any](s, what string, def T, parse func(string) (T, error)) (T, error) {
	if s == "" {
		return def, nil
	}
	v, err := parse(strings.ReplaceAll(s, "-", "_"))
	if err != nil {
		return def, badRequest("%s: unknown value %q", what, s)
	}
	return v, nil
}

func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// describeFilter builds a DescribeAcls request from f.
func describeFilter(f ACLFilter) (*kmsg.DescribeACLsRequest, error) {
	req := kmsg.NewPtrDescribeACLsRequest()
	var err error
	if req.ResourceType, err = enumOr(f.ResourceType, "resource_type", kmsg.ACLResourceTypeAny, kmsg.ParseACLResourceType); err != nil {
		return nil, err
	}
	if req.ResourcePatternType, err = enumOr(f.PatternType, "pattern_type", kmsg.ACLResourcePatternTypeAny, kmsg.ParseACLResourcePatternType); err != nil {
		return nil, err
	}
	if req.Operation, err = enumOr(f.Operation, "operation", kmsg.ACLOperationAny, kmsg.ParseACLOperation); err != nil {
		return nil, err
	}
	if req.PermissionType, err = enumOr(f.Permission, "permission", kmsg.ACLPermissionTypeAny, kmsg.ParseACLPermissionType); err != nil {
		return nil, err
	}
	req.ResourceName, req.Principal, req.Host = strOrNil(f.ResourceName), strOrNil(f.Principal), strOrNil(f.Host)
	return req, nil
}

// ACLs lists the bindings f selects, sorted by resource then principal.
func (a *API) ACLs(ctx context.Context, p auth.Principal, f ACLFilter) (ACLList, error) {
	req, err := describeFilter(f)
	if err != nil {
		return ACLList{}, err
	}
	resp, err := a.do(ctx, p, 3, req)
	if err != nil {
		return ACLList{}, err
	}
	r := resp.(*kmsg.DescribeACLsResponse)
	if err := kafkaError(r.ErrorCode, r.ErrorMessage); err != nil {
		return ACLList{}, err
	}
	out := ACLList{ACLs: []ACL{}}
	for _, res := range r.Resources {
		for _, b := range res.ACLs {
			out.ACLs = append(out.ACLs, ACL{ResourceType: res.ResourceType.String(), ResourceName: res.ResourceName,
				PatternType: res.ResourcePatternType.String(), Principal: b.Principal, Host: b.Host,
				Operation: b.Operation.String(), Permission: b.PermissionType.String()})
		}
	}
	sort.Slice(out.ACLs, func(i, j int) bool {
		x, y := out.ACLs[i], out.ACLs[j]
		return x.ResourceType+"\x00"+x.ResourceName+"\x00"+x.Principal+"\x00"+x.Operation < y.ResourceType+"\x00"+y.ResourceName+"\x00"+y.Principal+"\x00"+y.Operation
	})
	return out, nil
}

// complete checks that a binding names every field (defaults: LITERAL,
// host "*", ALLOW) and parses it.
func (b *ACL) complete() (rt kmsg.ACLResourceType, pt kmsg.ACLResourcePatternType, op kmsg.ACLOperation, perm kmsg.ACLPermissionType, err error) {
	if b.PatternType == "" {
		b.PatternType = "LITERAL"
	}
	if b.Host == "" {
		b.Host = "*"
	}
	if b.Permission == "" {
		b.Permission = "ALLOW"
	}
	for _, f := range []struct{ v, n string }{{b.ResourceType, "resource_type"}, {b.ResourceName, "resource_name"}, {b.Principal, "principal"}, {b.Operation, "operation"}} {
		if f.v == "" {
			return rt, pt, op, perm, badRequest("%s is required", f.n)
		}
	}
	if rt, err = enumOr(b.ResourceType, "resource_type", rt, kmsg.ParseACLResourceType); err != nil {
		return
	}
	if pt, err = enumOr(b.PatternType, "pattern_type", pt, kmsg.ParseACLResourcePatternType); err != nil {
		return
	}
	if op, err = enumOr(b.Operation, "operation", op, kmsg.ParseACLOperation); err != nil {
		return
	}
	perm, err = enumOr(b.Permission, "permission", perm, kmsg.ParseACLPermissionType)
	return
}

// CreateACL creates one binding with a CreateAcls request; the handler
// validates it as Kafka does (INVALID_REQUEST with the reason).
func (a *API) CreateACL(ctx context.Context, p auth.Principal, b ACL) (ACL, error) {
	rt, pt, op, perm, err := b.complete()
	if err != nil {
		return b, err
	}
	req := kmsg.NewPtrCreateACLsRequest()
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType = rt, b.ResourceName, pt
	c.Principal, c.Host, c.Operation, c.PermissionType = b.Principal, b.Host, op, perm
	req.Creations = append(req.Creations, c)
	resp, err := a.do(ctx, p, 3, req)
	if err != nil {
		return b, err
	}
	r := resp.(*kmsg.CreateACLsResponse)
	if len(r.Results) != 1 {
		return b, errors.New("CreateAcls answered no result")
	}
	return b, kafkaError(r.Results[0].ErrorCode, r.Results[0].ErrorMessage)
}

// DeleteACL deletes exactly one binding (every field named, as in the
// list) with a DeleteAcls request, and returns how many it deleted.
func (a *API) DeleteACL(ctx context.Context, p auth.Principal, b ACL) (int, error) {
	rt, pt, op, perm, err := b.complete()
	if err != nil {
		return 0, err
	}
	req := kmsg.NewPtrDeleteACLsRequest()
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourceName, f.ResourcePatternType = rt, kmsg.StringPtr(b.ResourceName), pt
	f.Principal, f.Host, f.Operation, f.PermissionType = kmsg.StringPtr(b.Principal), kmsg.StringPtr(b.Host), op, perm
	req.Filters = append(req.Filters, f)
	resp, err := a.do(ctx, p, 3, req)
	if err != nil {
		return 0, err
	}
	r := resp.(*kmsg.DeleteACLsResponse)
	if len(r.Results) != 1 {
		return 0, errors.New("DeleteAcls answered no result")
	}
	if err := kafkaError(r.Results[0].ErrorCode, r.Results[0].ErrorMessage); err != nil {
		return 0, err
	}
	return len(r.Results[0].MatchingACLs), nil
}

// ScramUser is one user's SCRAM credentials: mechanisms and iteration
// counts, never salts, keys or passwords.
type ScramUser struct {
	Name        string          `json:"name"`
	Credentials []ScramCredInfo `json:"credentials"`
}

// ScramCredInfo is one mechanism of a user.
type ScramCredInfo struct {
	Mechanism  string `json:"mechanism"`
	Iterations int32  `json:"iterations"`
}

// UserList is the answer of GET /api/v1/users.
type UserList struct {
	Users []ScramUser `json:"users"`
}

// Users lists every user with a SCRAM credential, sorted by name.
func (a *API) Users(ctx context.Context, p auth.Principal) (UserList, error) {
	req := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	resp, err := a.do(ctx, p, 0, req)
	if err != nil {
		return UserList{}, err
	}
	r := resp.(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if err := kafkaError(r.ErrorCode, r.ErrorMessage); err != nil {
		return UserList{}, err
	}
	out := UserList{Users: []ScramUser{}}
	for _, res := range r.Results {
		if err := kafkaError(res.ErrorCode, res.ErrorMessage); err != nil {
			return UserList{}, err
		}
		u := ScramUser{Name: res.User, Credentials: []ScramCredInfo{}}
		for _, c := range res.CredentialInfos {
			u.Credentials = append(u.Credentials, ScramCredInfo{Mechanism: auth.ScramMechanism(c.Mechanism).String(), Iterations: c.Iterations})
		}
		out.Users = append(out.Users, u)
	}
	sort.Slice(out.Users, func(i, j int) bool { return out.Users[i].Name < out.Users[j].Name })
	return out, nil
}

// UpsertUserRequest is the body of PUT /api/v1/users/{name}.
type UpsertUserRequest struct {
	// Mechanism is SCRAM-SHA-256 (default) or SCRAM-SHA-512.
	Mechanism string `json:"mechanism,omitempty"`
	Password  string `json:"password"`
	// Iterations defaults to 8192 (Kafka allows 4096 to 16384).
	Iterations int `json:"iterations,omitempty"`
}

// UpsertUser creates or replaces a user's credential for one mechanism
// with an AlterUserScramCredentials request. The password is salted here,
// as a Kafka client salts it; only the salted password travels to the
// handler, which keeps only the keys derived from it.
func (a *API) UpsertUser(ctx context.Context, p auth.Principal, name string, in UpsertUserRequest) error {
	if in.Password == "" {
		return badRequest("password is required")
	}
	if in.Mechanism == "" {
		in.Mechanism = "SCRAM-SHA-256"
	}
	m, err := auth.ParseScramMechanism(in.Mechanism)
	if err != nil {
		return badRequest("mechanism must be SCRAM-SHA-256 or SCRAM-SHA-512, got %q", in.Mechanism)
	}
	if in.Iterations == 0 {
		in.Iterations = auth.DefaultScramIterations
	}
	if in.Iterations < auth.MinScramIterations || in.Iterations > auth.MaxScramIterations {
		return badRequest("iterations must be from %d to %d, got %d", auth.MinScramIterations, auth.MaxScramIterations, in.Iterations)
	}
	salt := make([]byte, 32)
	rand.Read(salt)
	salted, err := auth.SaltPassword(m, in.Password, salt, in.Iterations)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	u.Name, u.Mechanism, u.Iterations, u.Salt, u.SaltedPassword = name, int8(m), int32(in.Iterations), salt, salted
	req.Upsertions = append(req.Upsertions, u)
	return a.alterScram(ctx, p, req)
}

// DeleteUser deletes a user's credential for mechanism, or for every
// mechanism the user has when mechanism is "".
func (a *API) DeleteUser(ctx context.Context, p auth.Principal, name, mechanism string) error {
	var mechs []auth.ScramMechanism
	if mechanism != "" {
		m, err := auth.ParseScramMechanism(mechanism)
		if err != nil {
			return badRequest("mechanism must be SCRAM-SHA-256 or SCRAM-SHA-512, got %q", mechanism)
		}
		mechs = append(mechs, m)
	} else {
		req := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
		du := kmsg.NewDescribeUserSCRAMCredentialsRequestUser()
		du.Name = name
		req.Users = append(req.Users, du)
		resp, err := a.do(ctx, p, 0, req)
		if err != nil {
			return err
		}
		r := resp.(*kmsg.DescribeUserSCRAMCredentialsResponse)
		if err := kafkaError(r.ErrorCode, r.ErrorMessage); err != nil {
			return err
		}
		for _, res := range r.Results {
			if err := kafkaError(res.ErrorCode, res.ErrorMessage); err != nil {
				return err
			}
			for _, c := range res.CredentialInfos {
				mechs = append(mechs, auth.ScramMechanism(c.Mechanism))
			}
		}
	}
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	for _, m := range mechs {
		d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
		d.Name, d.Mechanism = name, int8(m)
		req.Deletions = append(req.Deletions, d)
	}
	if len(req.Deletions) == 0 {
		return notFound("user %q has no SCRAM credential", name)
	}
	return a.alterScram(ctx, p, req)
}

func (a *API) alterScram(ctx context.Context, p auth.Principal, req *kmsg.AlterUserSCRAMCredentialsRequest) error {
	resp, err := a.do(ctx, p, 0, req)
	if err != nil {
		return err
	}
	for _, res := range resp.(*kmsg.AlterUserSCRAMCredentialsResponse).Results {
		if err := kafkaError(res.ErrorCode, res.ErrorMessage); err != nil {
			return err
		}
	}
	return nil
}

func aclFilterFrom(r *http.Request) ACLFilter {
	v := r.URL.Query()
	return ACLFilter{ResourceType: v.Get("resource_type"), ResourceName: v.Get("resource_name"), PatternType: v.Get("pattern_type"),
		Principal: v.Get("principal"), Host: v.Get("host"), Operation: v.Get("operation"), Permission: v.Get("permission")}
}

func (a *API) serveACLs(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	l, err := a.ACLs(r.Context(), p, aclFilterFrom(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

func (a *API) serveCreateACL(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in ACL
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	b, err := a.CreateACL(r.Context(), p, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, b)
	return nil
}

func (a *API) serveDeleteACL(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in ACL
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	n, err := a.DeleteACL(r.Context(), p, in)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound("no such ACL")
	}
	writeJSON(w, http.StatusOK, map[string]int{"deleted": n})
	return nil
}

func (a *API) serveUsers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	l, err := a.Users(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

func (a *API) serveUpsertUser(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in UpsertUserRequest
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if err := a.UpsertUser(r.Context(), p, r.PathValue("name"), in); err != nil {
		return err
	}
	return a.writeUser(w, r, p, r.PathValue("name"))
}

func (a *API) serveDeleteUser(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := a.DeleteUser(r.Context(), p, r.PathValue("name"), r.URL.Query().Get("mechanism")); err != nil {
		return err
	}
	return a.writeUser(w, r, p, r.PathValue("name"))
}

// writeUser answers with the user's credentials after a change (none
// left after a deletion of every mechanism).
func (a *API) writeUser(w http.ResponseWriter, r *http.Request, p auth.Principal, name string) error {
	l, err := a.Users(r.Context(), p)
	if err != nil {
		return err
	}
	u := ScramUser{Name: name, Credentials: []ScramCredInfo{}}
	for _, x := range l.Users {
		if x.Name == name {
			u = x
		}
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}
