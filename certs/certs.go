// Package certs gives berth's HTTPS listener its certificates: obtained and
// renewed from an ACME CA (Let's Encrypt by default) with certmagic, on
// demand and only for hosts berth serves, or one certificate the operator
// supplies.
package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/caddyserver/certmagic"
	"golang.org/x/time/rate"
)

// Modes of BERTH_TLS.
const (
	Off    = "off"    // plain HTTP only
	Auto   = "auto"   // certificates from an ACME CA, on demand
	Manual = "manual" // one certificate and key from files
)

// DefaultDirectory is the ACME directory used unless told otherwise:
// Let's Encrypt's production CA.
const DefaultDirectory = certmagic.LetsEncryptProductionCA

// Config configures the certificates of the HTTPS listener.
type Config struct {
	Mode      string // Auto or Manual
	Email     string // ACME account contact; may be empty
	Directory string // ACME directory URL; "" is DefaultDirectory
	CARoot    string // PEM file of roots trusted for the ACME server, besides the system's
	// CertFile and KeyFile are the certificate of Manual mode; in Auto
	// mode, an optional certificate (a wildcard such as *.apps.example.com)
	// served for the names it covers instead of ordering one per name.
	CertFile, KeyFile string
	Dir               string // where obtained certificates and the ACME account are stored

	// Dashboard is the dashboard's host name (from the public URL); Knows
	// reports whether a host name is one berth serves deployments on.
	// Together they decide which names may have a certificate.
	Dashboard string
	Knows     func(ctx context.Context, host string) bool

	// Where the ACME server's validation requests arrive: the host and
	// ports of berth's own HTTP and HTTPS listeners, which answer the
	// HTTP-01 and TLS-ALPN-01 challenges.
	ListenHost          string
	HTTPPort, HTTPSPort int

	// OrderRate and OrderBurst bound new certificate orders (0: the
	// defaults, DefaultOrderRate and DefaultOrderBurst).
	OrderRate  rate.Limit
	OrderBurst int
}

// The default bound of certificate orders: a burst of 10, then one every
// 40 seconds, so at most 280 in 3 hours, inside Let's Encrypt's limit of
// 300 new orders per account in 3 hours.
const (
	DefaultOrderRate  = rate.Limit(1.0 / 40)
	DefaultOrderBurst = 10
)

// Manager holds the HTTPS listener's certificates.
type Manager struct {
	cfg      Config
	log      *slog.Logger
	tls      *tls.Config
	cache    *certmagic.Cache      // nil in Manual mode
	acme     *certmagic.ACMEIssuer // nil in Manual mode
	operator *x509.Certificate     // the operator's certificate, in Auto mode
	orders   *rate.Limiter
}

// New loads or prepares the certificates. Nothing is ordered before a TLS
// handshake asks for a name.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Manager, error) {
	m := &Manager{cfg: cfg, log: log}
	switch cfg.Mode {
	case Manual:
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load TLS certificate: %w", err)
		}
		m.tls = &tls.Config{Certificates: []tls.Certificate{cert}}
	case Auto:
		if err := m.startACME(ctx); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("TLS mode %q is neither %s nor %s", cfg.Mode, Auto, Manual)
	}
	m.tls.MinVersion = tls.VersionTLS12
	// h2 first: HTTP/2 whenever the client speaks it.
	m.tls.NextProtos = append([]string{"h2", "http/1.1"}, m.tls.NextProtos...)
	return m, nil
}

func (m *Manager) startACME(ctx context.Context) error {
	cfg := m.cfg
	if cfg.Directory == "" {
		cfg.Directory = DefaultDirectory
	}
	if cfg.OrderRate == 0 {
		cfg.OrderRate, cfg.OrderBurst = DefaultOrderRate, DefaultOrderBurst
	}
	m.orders = rate.NewLimiter(cfg.OrderRate, max(cfg.OrderBurst, 1))
	var roots *x509.CertPool
	if cfg.CARoot != "" {
		pem, err := os.ReadFile(cfg.CARoot)
		if err != nil {
			return fmt.Errorf("read ACME CA root: %w", err)
		}
		if roots, _ = x509.SystemCertPool(); roots == nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("read ACME CA root %s: no PEM certificate in it", cfg.CARoot)
		}
	}
	zl := zapLogger(m.log)
	var magic *certmagic.Config
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return magic, nil },
		Logger:           zl,
	})
	magic = certmagic.New(m.cache, certmagic.Config{
		Storage:  &certmagic.FileStorage{Path: cfg.Dir},
		Logger:   zl,
		OnDemand: &certmagic.OnDemandConfig{DecisionFunc: m.decide},
	})
	m.acme = certmagic.NewACMEIssuer(magic, certmagic.ACMEIssuer{
		CA:           cfg.Directory,
		Email:        cfg.Email,
		Agreed:       true,
		TrustedRoots: roots,
		// berth's own listeners answer the challenges: certmagic finds
		// these ports taken and leaves them to the handlers below.
		ListenHost:     cfg.ListenHost,
		AltHTTPPort:    cfg.HTTPPort,
		AltTLSALPNPort: cfg.HTTPSPort,
		Logger:         zl,
	})
	magic.Issuers = []certmagic.Issuer{&limitedIssuer{acmeIssuer: m.acme, orders: m.orders, log: m.log}}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			m.cache.Stop()
			return fmt.Errorf("load TLS certificate: %w", err)
		}
		if _, err := magic.CacheUnmanagedTLSCertificate(ctx, cert, []string{"operator"}); err != nil {
			m.cache.Stop()
			return fmt.Errorf("load TLS certificate: %w", err)
		}
		m.operator = cert.Leaf
	}
	m.tls = magic.TLSConfig()
	return nil
}

// TLSConfig is the HTTPS listener's configuration: its certificates,
// HTTP/2 and, in Auto mode, the TLS-ALPN-01 challenge.
func (m *Manager) TLSConfig() *tls.Config { return m.tls }

// Close stops renewing certificates.
func (m *Manager) Close() {
	if m.cache != nil {
		m.cache.Stop()
	}
}

// errUnknownHost refuses a certificate to a name berth does not serve.
var errUnknownHost = errors.New("berth serves nothing at this name")

// decide allows a certificate for the dashboard's host and the hosts of
// berth's projects and deployments, and for nothing else: a stranger's
// handshake with a made-up name must not cost an ACME order. It runs when
// a handshake's name has no certificate in memory, before storage is
// looked at and before any order.
func (m *Manager) decide(ctx context.Context, name string) error {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if !nameable(name) {
		// localhost names (a laptop's apps domain) and addresses: no CA
		// validates them, so an order would only fail.
		return errors.New("no certificate can be ordered for this name")
	}
	if m.operator != nil && m.operator.VerifyHostname(name) == nil {
		// The operator's certificate covers it (it is in memory, so this
		// is reached only if it expired): no order for it either.
		return errors.New("the operator's certificate covers this name")
	}
	if name != "" && name == m.cfg.Dashboard || m.cfg.Knows != nil && m.cfg.Knows(ctx, name) {
		return nil
	}
	return errUnknownHost
}
