package store

import (
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// reservedTLDs are names no DNS on the internet answers for (RFC 6761,
// 6762, 7686, 9476 and the .internal reservation): a domain under one of
// them could never be verified, or would mean another machine.
var reservedTLDs = []string{"localhost", "local", "invalid", "arpa", "onion", "alt", "internal"}

// NormalizeDomain returns name as berth stores a custom domain: IDNA
// (Unicode names to their xn-- form), lowercase, without a trailing dot.
// It refuses with EINVALID what is no host of the public DNS: an address,
// a port or URL, a name with bad labels, a single label, a reserved name
// such as localhost, and a public suffix (com, co.uk, github.io), which no
// one owner holds.
func NormalizeDomain(name string) (string, error) {
	raw := strings.TrimSpace(name)
	name = strings.TrimSuffix(raw, ".")
	switch {
	case name == "":
		return "", Errorf(EINVALID, "A domain needs a name, such as www.example.com.")
	case strings.Contains(name, "://") || strings.ContainsAny(name, "/?#@"):
		return "", Errorf(EINVALID, "Give the domain name alone, such as www.example.com, without a scheme or path.")
	case isAddress(name):
		return "", Errorf(EINVALID, "%s is an IP address; a custom domain is a name, such as www.example.com.", raw)
	case strings.Contains(name, ":"):
		return "", Errorf(EINVALID, "Give the domain without a port: visitors reach it on berth's own ports.")
	}
	ascii, err := idna.Lookup.ToASCII(name)
	if err != nil {
		return "", Errorf(EINVALID, "%q is not a valid domain name: use letters, digits and hyphens in dot-separated labels.", raw)
	}
	ascii = strings.ToLower(ascii)
	if len(ascii) > 253 {
		return "", Errorf(EINVALID, "%s is longer than the 253 characters a domain name may have.", raw)
	}
	labels := strings.Split(ascii, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", Errorf(EINVALID, "%q is not a valid domain name: each label has 1 to 63 letters, digits or inner hyphens.", raw)
		}
	}
	if len(labels) < 2 {
		return "", Errorf(EINVALID, "%s is a single label; a custom domain has a dot, such as example.com.", ascii)
	}
	tld := labels[len(labels)-1]
	for _, r := range reservedTLDs {
		if tld == r {
			return "", Errorf(EINVALID, "%s is under .%s, which the public DNS does not serve.", ascii, r)
		}
	}
	if isNumeric(tld) {
		return "", Errorf(EINVALID, "%s is not a domain name: its last label is a number.", ascii)
	}
	if suffix, _ := publicsuffix.PublicSuffix(ascii); suffix == ascii {
		return "", Errorf(EINVALID, "%s is a public suffix, under which anyone may register names; add a name you own, such as example.%s.", ascii, ascii)
	}
	return ascii, nil
}

// IsApexDomain reports whether name (normalized) is a registrable domain
// itself, such as example.com or example.co.uk, rather than a name under
// one: an apex cannot be a CNAME, so it points at berth's addresses.
func IsApexDomain(name string) bool {
	apex, err := publicsuffix.EffectiveTLDPlusOne(name)
	return err == nil && apex == name
}

func isAddress(s string) bool {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	_, err := netip.ParseAddr(s)
	return err == nil
}

func isNumeric(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
