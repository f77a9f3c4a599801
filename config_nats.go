package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// settleNATS checks the NATS listener's settings: without TLS it may only
// listen on loopback, where no other machine can watch the password go by.
func (c *Config) settleNATS() error {
	if (c.NATSTLSCert == "") != (c.NATSTLSKey == "") {
		return errors.New("BERTH_NATS_TLS_CERT and BERTH_NATS_TLS_KEY go together")
	}
	if c.NATSListen == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(c.NATSListen)
	if err != nil || port == "" {
		return fmt.Errorf("BERTH_NATS_LISTEN %q is not a host:port such as 127.0.0.1:4222", c.NATSListen)
	}
	if c.NATSTLSCert != "" || loopback(host) {
		return nil
	}
	return fmt.Errorf("BERTH_NATS_LISTEN %q accepts clients from other machines without TLS: "+
		"set BERTH_NATS_TLS_CERT and BERTH_NATS_TLS_KEY (PEM files), or listen on loopback only (127.0.0.1:4222)", c.NATSListen)
}

// loopback reports whether host names only this machine. An empty host, a
// wildcard address and any name but localhost may reach beyond it.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.IsLoopback()
}
