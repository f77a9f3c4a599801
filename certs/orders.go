package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"

	"github.com/caddyserver/certmagic"
	"golang.org/x/time/rate"
)

// limitedIssuer is the ACME issuer behind a rate limit of orders, so that a
// flood of handshakes, even for names berth serves (a thousand new
// projects, a scan of preview hosts), cannot run the CA's limits for this
// server out. Certificates already stored are loaded without an order and
// pass no limit; a refused order is retried by certmagic later.
type limitedIssuer struct {
	acmeIssuer
	orders *rate.Limiter
	log    *slog.Logger
}

// acmeIssuer is what certmagic uses of an *certmagic.ACMEIssuer: a wrapper
// must pass all of it on (renewal information, revocation, pre-checks).
type acmeIssuer interface {
	certmagic.Issuer
	certmagic.PreChecker
	certmagic.Revoker
	certmagic.RenewalInfoGetter
}

// errTooManyOrders refuses an order past the rate limit.
var errTooManyOrders = errors.New("too many certificate orders: try again in a minute")

// Issue orders a certificate, within the rate limit.
func (l *limitedIssuer) Issue(ctx context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	if !l.orders.Allow() {
		l.log.WarnContext(ctx, "certificate order refused: too many orders", slog.Any("names", csr.DNSNames))
		return nil, errTooManyOrders
	}
	l.log.InfoContext(ctx, "ordering certificate", slog.Any("names", csr.DNSNames))
	c, err := l.acmeIssuer.Issue(ctx, csr)
	if err != nil {
		return nil, err
	}
	l.log.InfoContext(ctx, "certificate issued", slog.Any("names", csr.DNSNames))
	return c, nil
}
