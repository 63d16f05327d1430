package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// OAuthConfig configures OAUTHBEARER: where the signing keys come from
// and what a token must say.
type OAuthConfig struct {
	// JWKSFile is a JSON Web Key Set file, re-read when it changes;
	// JWKSURL is fetched and refreshed in the background (keys unknown
	// at validation time trigger a rate-limited refresh). Exactly one.
	JWKSFile string
	JWKSURL  string
	// Issuer and Audience, when set, must match the token's iss and
	// (one of) its aud.
	Issuer   string
	Audience string
	// PrincipalClaim names the claim holding the user name; "" means
	// "sub".
	PrincipalClaim string
	// ClockSkew is the leeway allowed on exp, nbf and iat.
	ClockSkew time.Duration
}

// OAuthBearer is the OAUTHBEARER mechanism (RFC 7628) with unsecured
// tokens refused: every token is a JWT signed by a key of the configured
// JWKS (RS*, PS*, ES*, EdDSA; never "none" or HMAC), unexpired, valid
// now (nbf), from the configured issuer to the configured audience.
type OAuthBearer struct {
	cfg  OAuthConfig
	keys func(ctx context.Context) jwt.Keyfunc
	// file is the JWKS file, when keys come from one.
	file *jwksFile
	// parser is safe for concurrent use: its options are read only.
	parser *jwt.Parser
	now    func() time.Time
}

// NewOAuthBearer returns the mechanism; with a JWKS URL, the first fetch
// happens here (bounded by ctx) and refreshes run until ctx ends.
func NewOAuthBearer(ctx context.Context, cfg OAuthConfig) (*OAuthBearer, error) {
	if cfg.PrincipalClaim == "" {
		cfg.PrincipalClaim = "sub"
	}
	o := &OAuthBearer{cfg: cfg, now: time.Now}
	switch {
	case cfg.JWKSFile != "" && cfg.JWKSURL != "":
		return nil, errors.New("auth: OAUTHBEARER takes a JWKS file or a JWKS URL, not both")
	case cfg.JWKSFile != "":
		f := &jwksFile{path: cfg.JWKSFile, checkEvery: time.Second}
		if _, err := f.current(); err != nil {
			return nil, err
		}
		o.keys, o.file = f.keyfunc, f
	case cfg.JWKSURL != "":
		kf, err := keyfunc.NewDefaultCtx(ctx, []string{cfg.JWKSURL})
		if err != nil {
			return nil, fmt.Errorf("auth: JWKS %s: %w", cfg.JWKSURL, err)
		}
		o.keys = kf.KeyfuncCtx
	default:
		return nil, errors.New("auth: OAUTHBEARER needs a JWKS file or URL")
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.ClockSkew),
		jwt.WithTimeFunc(func() time.Time { return o.now() }),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	o.parser = jwt.NewParser(opts...)
	return o, nil
}

// Name implements Mechanism.
func (o *OAuthBearer) Name() string { return MechOAuthBearer }

// Start implements Mechanism.
func (o *OAuthBearer) Start() Session { return &oauthSession{o: o} }

// Validate checks a JWT and returns the principal it names and when it
// expires.
func (o *OAuthBearer) Validate(ctx context.Context, token string) (Principal, time.Time, error) {
	claims := jwt.MapClaims{}
	if _, err := o.parser.ParseWithClaims(token, claims, o.keys(ctx)); err != nil {
		return Principal{}, time.Time{}, failed("OAUTHBEARER: %v", err)
	}
	name, _ := claims[o.cfg.PrincipalClaim].(string)
	if name == "" {
		return Principal{}, time.Time{}, failed("OAUTHBEARER: token has no string claim %q", o.cfg.PrincipalClaim)
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return Principal{}, time.Time{}, failed("OAUTHBEARER: token has no exp")
	}
	return User(name), exp.Time, nil
}

type oauthSession struct {
	o      *OAuthBearer
	done   bool
	user   Principal
	expiry time.Time
}

// maxOAuthMessage bounds the client's message (a JWT and its framing).
const maxOAuthMessage = 64 << 10

// ParseOAuthBearer parses an RFC 7628 initial client response:
// gs2-header ^A auth=Bearer <token> ^A [key=value ^A]* ^A.
func ParseOAuthBearer(msg []byte) (authzID, token string, ext map[string]string, err error) {
	if len(msg) > maxOAuthMessage {
		return "", "", nil, ErrBadMessage
	}
	gs2, rest, ok := bytes.Cut(msg, []byte{1})
	if !ok || !bytes.HasSuffix(rest, []byte{1}) {
		return "", "", nil, ErrBadMessage
	}
	flag, a, ok := strings.Cut(string(gs2), ",")
	if !ok || flag != "n" && flag != "y" || !strings.HasSuffix(a, ",") {
		return "", "", nil, ErrBadMessage
	}
	a = strings.TrimSuffix(a, ",")
	if a != "" {
		v, ok := strings.CutPrefix(a, "a=")
		if !ok || strings.Contains(v, ",") {
			return "", "", nil, ErrBadMessage
		}
		authzID = DecodeSaslName(v)
	}
	ext = map[string]string{}
	body := rest[:len(rest)-1]
	if len(body) == 0 || body[len(body)-1] != 1 {
		return "", "", nil, ErrBadMessage
	}
	for _, kv := range bytes.Split(body[:len(body)-1], []byte{1}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok || k == "" {
			return "", "", nil, ErrBadMessage
		}
		if k == "auth" {
			scheme, tok, ok := strings.Cut(v, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
				return "", "", nil, ErrBadMessage
			}
			token = strings.TrimSpace(tok)
			continue
		}
		ext[k] = v
	}
	if token == "" {
		return "", "", nil, ErrBadMessage
	}
	return authzID, token, ext, nil
}

// Step implements Session.
func (s *oauthSession) Step(ctx context.Context, msg []byte) ([]byte, bool, error) {
	if s.done {
		return nil, false, failed("OAUTHBEARER: unexpected message after the exchange")
	}
	s.done = true
	authzID, token, _, err := ParseOAuthBearer(msg)
	if err != nil {
		return nil, false, failed("OAUTHBEARER: %v", err)
	}
	p, exp, err := s.o.Validate(ctx, token)
	if err != nil {
		return nil, false, err
	}
	if authzID != "" && authzID != p.Name {
		return nil, false, failed("OAUTHBEARER: authorization ID %q is not the token's principal %q", authzID, p.Name)
	}
	s.user, s.expiry = p, exp
	return nil, true, nil
}

// Principal implements Session.
func (s *oauthSession) Principal() Principal { return s.user }

// Expiry implements Session.
func (s *oauthSession) Expiry() time.Time { return s.expiry }

// jwksFile is a JWKS file re-read when its modification time or size
// changes (checked at most every checkEvery).
type jwksFile struct {
	path       string
	checkEvery time.Duration // set before use

	mu      sync.Mutex // guards kf, modTime, size and checked
	kf      keyfunc.Keyfunc
	modTime time.Time
	size    int64
	checked time.Time
}

func (f *jwksFile) current() (keyfunc.Keyfunc, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.kf != nil && time.Since(f.checked) < f.checkEvery {
		return f.kf, nil
	}
	f.checked = time.Now()
	st, err := os.Stat(f.path)
	if err != nil {
		if f.kf != nil {
			return f.kf, nil // keep the last good keys while the file is replaced
		}
		return nil, fmt.Errorf("auth: JWKS file: %w", err)
	}
	if f.kf != nil && st.ModTime().Equal(f.modTime) && st.Size() == f.size {
		return f.kf, nil
	}
	raw, err := os.ReadFile(f.path)
	if err == nil && !json.Valid(raw) {
		err = errors.New("not JSON")
	}
	var kf keyfunc.Keyfunc
	if err == nil {
		kf, err = keyfunc.NewJWKSetJSON(raw)
	}
	if err != nil {
		if f.kf != nil {
			return f.kf, nil
		}
		return nil, fmt.Errorf("auth: JWKS file %s: %w", f.path, err)
	}
	f.kf, f.modTime, f.size = kf, st.ModTime(), st.Size()
	return kf, nil
}

func (f *jwksFile) keyfunc(ctx context.Context) jwt.Keyfunc {
	kf, err := f.current()
	if err != nil {
		return func(*jwt.Token) (any, error) { return nil, err }
	}
	return kf.KeyfuncCtx(ctx)
}
