package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/berth-dev/berth/certs"
)

// settleTLS checks the HTTPS settings and fills in the HTTPS address.
func (c *Config) settleTLS() error {
	c.TLS = strings.ToLower(strings.TrimSpace(c.TLS))
	switch c.TLS {
	case certs.Off, certs.Auto, certs.Manual:
	default:
		return fmt.Errorf("BERTH_TLS is %q: it is off, auto or manual", c.TLS)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("BERTH_TLS_CERT and BERTH_TLS_KEY go together")
	}
	if c.TLS == certs.Manual && c.TLSCert == "" {
		return errors.New("BERTH_TLS=manual serves the certificate of BERTH_TLS_CERT and BERTH_TLS_KEY: set both")
	}
	if c.TLS != certs.Off && c.HTTPSAddr == "" {
		c.HTTPSAddr = ":443"
	}
	return nil
}
