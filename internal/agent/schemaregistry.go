package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/schemaregistry"
	"github.com/sluicehq/sluice/internal/schemaregistry/srstore"
)

// SchemaRegistryConfig configures the schema registry every agent serves
// (docs/schema-registry.md).
type SchemaRegistryConfig struct {
	// Addr is the registry's REST listener; empty disables it (broker-side
	// validation still works).
	Addr string
	// Mode is readwrite (or empty) or readonly, which refuses every write
	// on this agent's listener.
	Mode string
	// Optional makes a listener that cannot bind a warning rather than an
	// error (the default address of sluice dev, which may be taken).
	Optional bool
	// BasicAuth picks where the listener's HTTP basic auth users come
	// from: none, file (BasicAuthFile) or scram (the cluster's SCRAM
	// credential store, checked as SASL PLAIN checks it). Empty means file
	// when BasicAuthFile is set, else none.
	BasicAuth string
	// BasicAuthFile names a file of user:password lines (bcrypt hashes or
	// plain) for BasicAuth file.
	BasicAuthFile string
	// TLSCertFile and TLSKeyFile, if both set, serve HTTPS.
	TLSCertFile, TLSKeyFile string
}

// schemaStore finds the schema registry's store role in the metadata
// store, under the wrappers agents put around it.
func schemaStore(s metadata.Store) (srstore.Store, bool) {
	for {
		if ss, ok := s.(srstore.Store); ok {
			return ss, true
		}
		b, ok := s.(*metadata.Broadcast)
		if !ok {
			return nil, false
		}
		s = b.Store
	}
}

// startSchemaRegistry builds the registry and the produce path's validator
// over the metadata store and binds the REST listener. The listener starts
// serving in serveSchemaRegistry.
func (a *Agent) startSchemaRegistry(raw metadata.Store) error {
	cfg := a.cfg.SchemaRegistry
	var readOnly bool
	switch cfg.Mode {
	case "", "readwrite":
	case "readonly":
		readOnly = true
	default:
		return fmt.Errorf("agent: schema registry mode %q: want readwrite or readonly", cfg.Mode)
	}
	store, ok := schemaStore(raw)
	if !ok {
		if cfg.Addr != "" {
			return fmt.Errorf("agent: schema registry: the metadata store %T has no schema registry tables", raw)
		}
		return nil
	}
	reg := schemaregistry.New(store, readOnly)
	a.schemaRegistry = reg
	metrics := schemaregistry.NewMetrics(a.metrics, reg)
	a.schemaValidator = schemaregistry.NewValidator(store, metrics)
	// The console's schema pages follow the listener's authentication
	// (adminapi.Config.SchemaAuth), listener or not.
	authn, err := schemaRegistryAuth(cfg, raw)
	if err != nil {
		return err
	}
	a.schemaAuth = authn
	if cfg.Addr == "" {
		return nil
	}
	sc := schemaregistry.ServerConfig{Metrics: metrics, Logger: a.logger, Auditor: registryAuditor{a}}
	if authn != nil {
		sc.Auth = authn
		// As for SASL (kafka.Config.AuthFailureDelay): 0 means 1s,
		// negative none.
		sc.AuthFailureDelay = a.cfg.Kafka.AuthFailureDelay
		if sc.AuthFailureDelay == 0 {
			sc.AuthFailureDelay = time.Second
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil && cfg.Optional {
		a.logger.Warn("schema registry not served: its listener cannot bind", "addr", cfg.Addr, "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("agent: schema registry listener: %w", err)
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		ln.Close()
		return fmt.Errorf("agent: schema registry TLS needs both a certificate and a key")
	}
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			ln.Close()
			return fmt.Errorf("agent: schema registry TLS: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	a.srLn = ln
	a.srSrv = &http.Server{Handler: schemaregistry.Handler(reg, sc), ReadHeaderTimeout: 10 * time.Second}
	return nil
}

// schemaRegistryAuth returns the listener's Authenticator for
// cfg.BasicAuth, or nil for none.
func schemaRegistryAuth(cfg SchemaRegistryConfig, raw metadata.Store) (schemaregistry.Authenticator, error) {
	mode := cfg.BasicAuth
	if mode == "" {
		mode = "none"
		if cfg.BasicAuthFile != "" {
			mode = "file"
		}
	}
	if mode != "file" && cfg.BasicAuthFile != "" {
		return nil, fmt.Errorf("agent: schema registry basic auth %s: a basic auth file is only read with basic auth file", mode)
	}
	switch mode {
	case "none":
		return nil, nil
	case "file":
		if cfg.BasicAuthFile == "" {
			return nil, fmt.Errorf("agent: schema registry basic auth file needs a basic auth file")
		}
		return schemaregistry.LoadBasicAuth(cfg.BasicAuthFile)
	case "scram":
		store := scramStoreOf(raw)
		if store == nil {
			return nil, fmt.Errorf("agent: schema registry basic auth scram: the metadata store %T keeps no SCRAM credentials", raw)
		}
		return schemaregistry.ScramAuth{Store: store}, nil
	}
	return nil, fmt.Errorf("agent: schema registry basic auth %q: want none, file or scram", cfg.BasicAuth)
}

func (a *Agent) serveSchemaRegistry() {
	if a.srSrv != nil {
		a.srServing = true
		go a.srSrv.Serve(a.srLn)
	}
}

func (a *Agent) stopSchemaRegistry(ctx context.Context) {
	if a.srSrv == nil {
		return
	}
	shutCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := a.srSrv.Shutdown(shutCtx); err != nil {
		a.srSrv.Close()
	}
}

// SchemaRegistryAddr is the bound schema registry listener address, or ""
// when disabled.
func (a *Agent) SchemaRegistryAddr() string {
	if a.srLn == nil {
		return ""
	}
	return a.srLn.Addr().String()
}

// kafkaSchemas is the produce path's validator, or nil (a nil
// *Validator must not become a non-nil interface).
func (a *Agent) kafkaSchemas() kafka.SchemaValidator {
	if a.schemaValidator == nil {
		return nil
	}
	return a.schemaValidator
}
