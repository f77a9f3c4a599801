// Package dnstest is a small authoritative DNS server on loopback for
// tests: it answers A, AAAA, CNAME and TXT questions from records the test
// sets, following CNAMEs as a recursive resolver would.
package dnstest

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// Server answers DNS questions over UDP on 127.0.0.1.
type Server struct {
	conn *net.UDPConn
	wg   sync.WaitGroup

	mu    sync.Mutex
	addrs map[string][]netip.Addr
	cname map[string]string
	txt   map[string][]string
}

// Start runs a server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("listen for DNS: %v", err)
	}
	s := &Server{conn: conn, addrs: map[string][]netip.Addr{}, cname: map[string]string{}, txt: map[string][]string{}}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		conn.Close()
		s.wg.Wait()
	})
	return s
}

// Addr is the server's host:port, for BERTH_DNS_RESOLVER.
func (s *Server) Addr() string { return s.conn.LocalAddr().String() }

func key(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

// SetAddrs makes name answer these A and AAAA records (none: remove them).
func (s *Server) SetAddrs(name string, addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []netip.Addr
	for _, a := range addrs {
		list = append(list, netip.MustParseAddr(a))
	}
	s.addrs[key(name)] = list
}

// SetCNAME makes name an alias of target ("" removes it).
func (s *Server) SetCNAME(name, target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if target == "" {
		delete(s.cname, key(name))
		return
	}
	s.cname[key(name)] = key(target)
}

// SetTXT makes name answer these TXT records.
func (s *Server) SetTXT(name string, values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txt[key(name)] = values
}

func (s *Server) serve() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if out, ok := s.answer(buf[:n]); ok {
			s.conn.WriteToUDP(out, from)
		}
	}
}

func (s *Server) answer(msg []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	rh := func(name string, typ dnsmessage.Type) dnsmessage.ResourceHeader {
		return dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(name + "."), Type: typ, Class: dnsmessage.ClassINET, TTL: 1}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	name := key(q.Name.String())
	var cnames []string
	for i := 0; i < 8 && q.Type != dnsmessage.TypeCNAME; i++ {
		next, ok := s.cname[name]
		if !ok {
			break
		}
		cnames = append(cnames, name, next)
		name = next
	}
	known := len(cnames) > 0 || s.addrs[name] != nil || s.txt[name] != nil || s.cname[name] != ""
	hdr := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	if !known {
		hdr.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, hdr)
	b.EnableCompression()
	b.StartQuestions()
	b.Question(q)
	b.StartAnswers()
	for i := 0; i < len(cnames); i += 2 {
		b.CNAMEResource(rh(cnames[i], dnsmessage.TypeCNAME), dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName(cnames[i+1] + ".")})
	}
	switch q.Type {
	case dnsmessage.TypeCNAME:
		if target, ok := s.cname[name]; ok {
			b.CNAMEResource(rh(name, dnsmessage.TypeCNAME), dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName(target + ".")})
		}
	case dnsmessage.TypeA, dnsmessage.TypeAAAA:
		for _, a := range s.addrs[name] {
			if a.Is4() && q.Type == dnsmessage.TypeA {
				b.AResource(rh(name, dnsmessage.TypeA), dnsmessage.AResource{A: a.As4()})
			} else if a.Is6() && !a.Is4In6() && q.Type == dnsmessage.TypeAAAA {
				b.AAAAResource(rh(name, dnsmessage.TypeAAAA), dnsmessage.AAAAResource{AAAA: a.As16()})
			}
		}
	case dnsmessage.TypeTXT:
		for _, v := range s.txt[name] {
			b.TXTResource(rh(name, dnsmessage.TypeTXT), dnsmessage.TXTResource{TXT: []string{v}})
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil, false
	}
	return out, true
}
