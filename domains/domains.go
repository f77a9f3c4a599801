// Package domains manages projects' custom domains: which names a project
// may claim, the DNS records its owner must create, and the checks that
// verify them before berth serves the name (and before a certificate can be
// asked for it).
package domains

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/store"
)

// Config configures custom domains.
type Config struct {
	AppDomain     string // project hosts are <slug>.<AppDomain>: a CNAME's target
	DashboardHost string // the public URL's host, which no project may claim
	// PublicIPs are the addresses visitors reach berth at, which an apex's
	// A/AAAA records must name; empty: the addresses DashboardHost
	// resolves to.
	PublicIPs []netip.Addr
	// Resolver is the DNS server ("host:port") checks ask; "" is the
	// system's resolver.
	Resolver string
	// RecheckEvery is how often domains still waiting for their DNS are
	// checked again in the background (0: DefaultRecheckEvery).
	RecheckEvery time.Duration
}

// DefaultRecheckEvery is how often waiting domains are checked again.
const DefaultRecheckEvery = 5 * time.Minute

// Background re-checks cover domains added in the last recheckFor, at most
// recheckBatch per pass, so a pile of abandoned names costs little.
const (
	recheckFor   = 7 * 24 * time.Hour
	recheckBatch = 50
)

// Manager adds, verifies and removes custom domains, and tells the host
// router when what a host serves changed.
type Manager struct {
	cfg      Config
	db       *store.DB
	log      *slog.Logger
	dns      *checker
	onChange func()

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a manager; onChange (may be nil) is called after every change
// to a domain: the host router must look its hosts up again.
func New(cfg Config, db *store.DB, onChange func(), log *slog.Logger) *Manager {
	cfg.AppDomain = strings.ToLower(strings.Trim(cfg.AppDomain, "."))
	cfg.DashboardHost = strings.ToLower(strings.Trim(cfg.DashboardHost, "."))
	if cfg.RecheckEvery <= 0 {
		cfg.RecheckEvery = DefaultRecheckEvery
	}
	if onChange == nil {
		onChange = func() {}
	}
	return &Manager{cfg: cfg, db: db, log: log, dns: newChecker(cfg.Resolver), onChange: onChange}
}

// Start checks waiting domains in the background until Close.
func (m *Manager) Start(ctx context.Context) {
	ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(m.cfg.RecheckEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				m.recheck(ctx)
			}
		}
	}()
}

// Close stops background checks and waits for them.
func (m *Manager) Close() {
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
}

// recheck verifies the waiting domains whose DNS now points at berth.
func (m *Manager) recheck(ctx context.Context) {
	list, err := m.db.UnverifiedDomains(ctx, m.db.Now().Add(-recheckFor), recheckBatch)
	if err != nil {
		m.log.Warn("list unverified domains", slog.Any("error", err))
		return
	}
	for _, d := range list {
		if ctx.Err() != nil {
			return
		}
		slug, err := m.db.ProjectSlug(ctx, d.ProjectID)
		if err != nil {
			continue // deleted meanwhile
		}
		if _, err := m.check(ctx, d, slug); err != nil {
			m.log.Warn("check domain", slog.String("domain", d.Name), slog.Any("error", err))
		}
	}
}

// Add claims name for ownerID's project.
func (m *Manager) Add(ctx context.Context, ownerID string, p *store.Project, name string) (*store.Domain, error) {
	name, err := m.Allowed(name)
	if err != nil {
		return nil, err
	}
	d := &store.Domain{Name: name, ProjectID: p.ID}
	if err := m.db.CreateDomain(ctx, ownerID, d); err != nil {
		return nil, err
	}
	m.onChange()
	return d, nil
}

// Allowed normalizes name and refuses what a project may not claim:
// besides what store.NormalizeDomain refuses, the dashboard's host and the
// apps domain with every name under it (berth's own hosts).
func (m *Manager) Allowed(name string) (string, error) {
	name, err := store.NormalizeDomain(name)
	if err != nil {
		return "", err
	}
	if name == m.cfg.DashboardHost {
		return "", store.Errorf(store.EINVALID, "%s is this berth's own dashboard host.", name)
	}
	if name == m.cfg.AppDomain || strings.HasSuffix(name, "."+m.cfg.AppDomain) {
		return "", store.Errorf(store.EINVALID, "%s is under %s, where berth names project and preview hosts itself; add a domain of your own.", name, m.cfg.AppDomain)
	}
	return name, nil
}

// Verify checks name's DNS now and records the outcome: the domain, and
// when it is not verified, a sentence saying which record is missing or
// wrong and what it points at now.
func (m *Manager) Verify(ctx context.Context, ownerID string, p *store.Project, name string) (*store.Domain, string, error) {
	d, err := m.db.Domain(ctx, ownerID, p.ID, name)
	if err != nil {
		return nil, "", err
	}
	problem, err := m.check(ctx, d, p.Slug)
	if err != nil {
		return nil, "", err
	}
	d, err = m.db.Domain(ctx, ownerID, p.ID, d.Name)
	return d, problem, err
}

// check looks d's records up and stores the outcome; it returns the
// problem found, "" when the DNS is right.
func (m *Manager) check(ctx context.Context, d *store.Domain, slug string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	// A subdomain's CNAME needs no addresses of berth's: only when they
	// are the proof (an apex) is not knowing them the problem.
	want, err := m.serverAddrs(ctx)
	problem := ""
	if err != nil && store.IsApexDomain(d.Name) {
		problem = err.Error()
	} else {
		problem = m.dns.check(ctx, d, m.projectHost(slug), want)
	}
	before := d.Verified()
	after, err := m.db.RecordDomainCheck(context.WithoutCancel(ctx), d.Name, problem == "", problem)
	if err != nil {
		return "", err
	}
	if !before && after.Verified() {
		m.log.Info("domain verified", slog.String("domain", d.Name), slog.String("project", d.ProjectID))
		m.onChange()
	}
	if before {
		problem = "" // it stays verified; the problem is kept in check_error
	}
	return problem, nil
}

// SetRedirect changes where name sends its visitors ("" serves the project).
func (m *Manager) SetRedirect(ctx context.Context, ownerID string, p *store.Project, name, to string) (*store.Domain, error) {
	d, err := m.db.SetDomainRedirect(ctx, ownerID, p.ID, name, to)
	if err != nil {
		return nil, err
	}
	m.onChange()
	return d, nil
}

// Remove deletes name from ownerID's project.
func (m *Manager) Remove(ctx context.Context, ownerID string, p *store.Project, name string) error {
	if err := m.db.DeleteDomain(ctx, ownerID, p.ID, name); err != nil {
		return err
	}
	m.onChange()
	return nil
}

// projectHost is the project's own host, a CNAME's target.
func (m *Manager) projectHost(slug string) string { return slug + "." + m.cfg.AppDomain }
