package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/netguard"
)

// The flag.Value kinds a config option can have, each a pointer into a
// Config field. Set's error reads after the variable's name, as in
// `BERTH_BUILD_TIMEOUT: "x" is not a duration such as 15m`.
type (
	stringValue   string
	intValue      int
	int64Value    int64
	float64Value  float64
	boolValue     bool
	durationValue time.Duration
	// listValue is a comma-separated list, each item trimmed, empty items dropped.
	listValue []string
	// netsValue is a comma-separated list of CIDR ranges (a bare address is
	// a range of one).
	netsValue []netip.Prefix
	// addrsValue is a comma-separated list of IP addresses.
	addrsValue []netip.Addr
)

func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) String() string     { return string(*v) }

func (v *intValue) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, strconv.IntSize)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	*v = intValue(n)
	return nil
}
func (v *intValue) String() string { return strconv.Itoa(int(*v)) }

func (v *int64Value) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	*v = int64Value(n)
	return nil
}
func (v *int64Value) String() string { return strconv.FormatInt(int64(*v), 10) }

func (v *float64Value) Set(s string) error {
	n, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", s)
	}
	*v = float64Value(n)
	return nil
}
func (v *float64Value) String() string { return strconv.FormatFloat(float64(*v), 'g', -1, 64) }

func (v *boolValue) Set(s string) error {
	// on and off read naturally for switches such as BERTH_NETWORK_ISOLATION.
	switch strings.ToLower(s) {
	case "on":
		s = "true"
	case "off":
		s = "false"
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q is not true or false (or on or off)", s)
	}
	*v = boolValue(b)
	return nil
}
func (v *boolValue) String() string { return strconv.FormatBool(bool(*v)) }

// IsBoolFlag lets "-s3-secure" stand for "-s3-secure=true".
func (v *boolValue) IsBoolFlag() bool { return true }

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 15m", s)
	}
	*v = durationValue(d)
	return nil
}
func (v *durationValue) String() string { return time.Duration(*v).String() }

func (v *listValue) Set(s string) error {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	*v = out
	return nil
}
func (v *listValue) String() string { return strings.Join(*v, ",") }

func (v *netsValue) Set(s string) error {
	nets, err := netguard.ParseNets(s)
	if err != nil {
		return err
	}
	*v = nets
	return nil
}
func (v *netsValue) String() string {
	out := make([]string, len(*v))
	for i, n := range *v {
		out[i] = n.String()
	}
	return strings.Join(out, ",")
}

func (v *addrsValue) Set(s string) error {
	var out []netip.Addr
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return fmt.Errorf("%q is not an IP address", f)
		}
		out = append(out, a.Unmap())
	}
	*v = out
	return nil
}
func (v *addrsValue) String() string {
	out := make([]string, len(*v))
	for i, a := range *v {
		out[i] = a.String()
	}
	return strings.Join(out, ",")
}
