package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
)

// settleNATS checks the NATS listener's settings: without TLS it may only
// listen on loopback, where no other machine can watch the password go by.
func (c *Config) settleNATS() error {
	if err := c.settleRemote(); err != nil {
		return err
	}
	if len(c.NATSURLs) > 0 && c.NATSListen != "" {
		return errors.New("BERTH_NATS_URL and BERTH_NATS_LISTEN exclude each other: with an external cluster, workers connect to it")
	}
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

// settleRemote checks the settings of an external NATS cluster and the
// builders' labels, for berth serve and berth worker alike.
func (c *Config) settleRemote() error {
	labels, err := model.WorkerLabels(c.WorkerLabels)
	if err != nil {
		return fmt.Errorf("BERTH_WORKER_LABELS: %w", err)
	}
	c.WorkerLabels = labels
	if c.NATSReplicas < 0 || c.NATSReplicas > 5 {
		return errors.New("BERTH_NATS_REPLICAS must be between 0 and 5")
	}
	if c.NATSCreds != "" && (c.NATSUser != "" || c.NATSPasswordFile != "") {
		return errors.New("BERTH_NATS_CREDS replaces BERTH_NATS_USER and BERTH_NATS_PASSWORD_FILE: give one or the other")
	}
	for _, u := range c.NATSURLs {
		if !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
			return fmt.Errorf("BERTH_NATS_URL: %q is not a nats:// or tls:// URL", u)
		}
		if strings.Contains(strings.TrimPrefix(strings.TrimPrefix(u, "nats://"), "tls://"), "@") {
			return fmt.Errorf("BERTH_NATS_URL: %q holds credentials; give them with BERTH_NATS_USER and BERTH_NATS_PASSWORD_FILE", redactURL(u))
		}
	}
	if c.DrainTimeout < 0 {
		return errors.New("BERTH_DRAIN_TIMEOUT must not be negative")
	}
	return nil
}

// redactURL hides what sits before an @ in a URL.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return "(hidden)"
	}
	if _, host, ok := strings.Cut(rest, "@"); ok {
		return scheme + "://***@" + host
	}
	return u
}

// remote is the connection to the cluster of -nats-url, its password read
// from its file.
func (c *Config) remote(name string) (queue.Remote, error) {
	r := queue.Remote{URLs: c.NATSURLs, User: c.NATSUser, CredsFile: c.NATSCreds, CAFile: c.NATSCA, Name: name}
	if c.NATSPasswordFile != "" {
		b, err := os.ReadFile(c.NATSPasswordFile)
		if err != nil {
			return r, fmt.Errorf("read the NATS password: %w", err)
		}
		if r.Password = strings.TrimSpace(string(b)); r.Password == "" {
			return r, fmt.Errorf("read the NATS password: %s is empty", c.NATSPasswordFile)
		}
	}
	return r, nil
}
