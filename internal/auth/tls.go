package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// ClientAuth is Kafka's ssl.client.auth: whether TLS listeners ask for
// client certificates.
type ClientAuth string

const (
	ClientAuthNone    ClientAuth = "none"
	ClientAuthRequest ClientAuth = "request"
	ClientAuthRequire ClientAuth = "require"
)

// ParseClientAuth parses none, request or require.
func ParseClientAuth(s string) (ClientAuth, error) {
	switch c := ClientAuth(s); c {
	case ClientAuthNone, ClientAuthRequest, ClientAuthRequire:
		return c, nil
	case "":
		return ClientAuthNone, nil
	}
	return "", fmt.Errorf("auth: TLS client auth %q: want none, request or require", s)
}

// TLSFiles names the PEM files of a TLS server.
type TLSFiles struct {
	CertFile string // certificate chain, leaf first
	KeyFile  string
	// ClientCAFile holds the CAs client certificates must chain to; it
	// is needed for ClientAuth request or require.
	ClientCAFile string
	ClientAuth   ClientAuth
}

// Enabled reports whether a certificate is configured.
func (f TLSFiles) Enabled() bool { return f.CertFile != "" }

// TLSReloader serves a TLS configuration from PEM files and re-reads them
// when they change (modification time or size, checked at most once a
// second at a handshake), so certificates rotate without a restart. A
// rewrite that does not parse (a half-written file) keeps the previous
// configuration until the files are whole again.
type TLSReloader struct {
	files TLSFiles
	// onError reports a reload that failed; may be nil.
	onError func(error)
	// checkEvery is how often the files' stamps are looked at (1s;
	// tests shorten it).
	checkEvery time.Duration

	mu      sync.Mutex // guards cfg, stamp and checked (checkEvery is set before use)
	cfg     *tls.Config
	stamp   [3]fileStamp
	checked time.Time
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// NewTLSReloader loads files once (an error if they do not make a valid
// configuration) and returns the reloader.
func NewTLSReloader(files TLSFiles, onError func(error)) (*TLSReloader, error) {
	if files.CertFile == "" || files.KeyFile == "" {
		return nil, errors.New("auth: TLS needs both a certificate and a key file")
	}
	if files.ClientAuth == "" {
		files.ClientAuth = ClientAuthNone
	}
	if files.ClientAuth != ClientAuthNone && files.ClientCAFile == "" {
		return nil, fmt.Errorf("auth: TLS client auth %s needs a client CA file", files.ClientAuth)
	}
	r := &TLSReloader{files: files, onError: onError, checkEvery: time.Second}
	cfg, stamp, err := r.load()
	if err != nil {
		return nil, err
	}
	r.cfg, r.stamp, r.checked = cfg, stamp, time.Now()
	return r, nil
}

// ServerConfig returns the configuration to give tls.NewListener or
// tls.Server: every handshake takes the current files' configuration.
func (r *TLSReloader) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.current(), nil
		},
	}
}

// ServerConfigClientAuth is ServerConfig with client certificates
// asked for as ca says instead of the files' setting (the HTTP listener
// asks for them without requiring them: scrapers have none).
func (r *TLSReloader) ServerConfigClientAuth(ca tls.ClientAuthType) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cfg := r.current().Clone()
			cfg.ClientAuth = ca
			if cfg.ClientCAs == nil && ca != tls.NoClientCert {
				cfg.ClientAuth = tls.NoClientCert
			}
			return cfg, nil
		},
	}
}

// ClientCertificate returns the current certificate, for an agent that
// presents it to its peers as a client (mTLS between agents).
func (r *TLSReloader) ClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	cfg := r.current()
	return &cfg.Certificates[0], nil
}

// RootCAs returns the client CA pool, for a peer verifying the other
// agents' certificates (nil when none is configured).
func (r *TLSReloader) RootCAs() *x509.CertPool { return r.current().ClientCAs }

func (r *TLSReloader) current() *tls.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < r.checkEvery {
		return r.cfg
	}
	r.checked = time.Now()
	stamp, err := r.stamps()
	if err != nil || stamp == r.stamp {
		return r.cfg
	}
	cfg, stamp, err := r.load()
	if err != nil {
		if r.onError != nil {
			r.onError(err)
		}
		return r.cfg
	}
	r.cfg, r.stamp = cfg, stamp
	return r.cfg
}

func (r *TLSReloader) stamps() ([3]fileStamp, error) {
	var out [3]fileStamp
	for i, p := range []string{r.files.CertFile, r.files.KeyFile, r.files.ClientCAFile} {
		if p == "" {
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return out, err
		}
		out[i] = fileStamp{st.ModTime(), st.Size()}
	}
	return out, nil
}

func (r *TLSReloader) load() (*tls.Config, [3]fileStamp, error) {
	stamp, err := r.stamps()
	if err != nil {
		return nil, stamp, fmt.Errorf("auth: TLS files: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(r.files.CertFile, r.files.KeyFile)
	if err != nil {
		return nil, stamp, fmt.Errorf("auth: TLS certificate: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if r.files.ClientCAFile != "" {
		pem, err := os.ReadFile(r.files.ClientCAFile)
		if err != nil {
			return nil, stamp, fmt.Errorf("auth: TLS client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, stamp, fmt.Errorf("auth: TLS client CA %s: no PEM certificate", r.files.ClientCAFile)
		}
		cfg.ClientCAs = pool
	}
	switch r.files.ClientAuth {
	case ClientAuthRequest:
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case ClientAuthRequire:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		cfg.ClientAuth = tls.NoClientCert
	}
	return cfg, stamp, nil
}
