package serving

import (
	"path"
	"strconv"
	"strings"
)

// encoding is one stored representation of a file: as built, or
// precompressed.
type encoding uint8

const (
	encIdentity encoding = iota
	encGzip
	encZstd
	numEncodings
)

// Content-Encoding tokens and the suffixes of the files holding each
// variant in the disk cache.
var (
	encodingNames  = [numEncodings]string{"identity", "gzip", "zstd"}
	encodingSuffix = [numEncodings]string{"", ".gz", ".zst"}
)

// preference orders the encodings a client may accept, best first: zstd
// decodes fastest and, at the levels used here, is as small as gzip or
// smaller.
var preference = [...]encoding{encZstd, encGzip}

// negotiate picks the encoding to send for an Accept-Encoding header given
// the variants that exist (have[enc]). Quality values count: "gzip;q=0"
// refuses gzip, "*" stands for anything not named. Without a usable
// compressed variant the answer is identity, even when the client said
// "identity;q=0": an uncompressed answer beats a 406 for static files.
func negotiate(accept string, have *[numEncodings]bool) encoding {
	if accept == "" {
		return encIdentity
	}
	var q [numEncodings]float64
	var named [numEncodings]bool
	star, starSet := 0.0, false
	for accept != "" {
		var part string
		part, accept, _ = strings.Cut(accept, ",")
		token, params, _ := strings.Cut(part, ";")
		token = strings.TrimSpace(token)
		quality := 1.0
		if params != "" {
			quality = parseQ(params)
		}
		switch {
		case strings.EqualFold(token, "zstd"):
			q[encZstd], named[encZstd] = max(q[encZstd], quality), true
		case strings.EqualFold(token, "gzip"), strings.EqualFold(token, "x-gzip"):
			q[encGzip], named[encGzip] = max(q[encGzip], quality), true
		case token == "*":
			star, starSet = quality, true
		}
	}
	best, bestQ := encIdentity, 0.0
	for _, e := range preference {
		if !have[e] {
			continue
		}
		qe := q[e]
		if !named[e] && starSet {
			qe = star
		}
		if qe > bestQ {
			best, bestQ = e, qe
		}
	}
	return best
}

// parseQ reads the q parameter of one Accept-Encoding element; a missing or
// malformed one means 1.
func parseQ(params string) float64 {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || f > 1 {
			return 1
		}
		return f
	}
	return 1
}

// incompressible are extensions whose content is compressed already: a
// second pass would cost CPU and save nothing.
var incompressible = map[string]bool{
	".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".webp": true, ".avif": true, ".heic": true,
	".woff": true, ".woff2": true, ".mp4": true, ".webm": true, ".mp3": true, ".ogg": true, ".m4a": true,
	".zip": true, ".gz": true, ".tgz": true, ".br": true, ".zst": true, ".xz": true, ".bz2": true, ".7z": true,
	".pdf": true, ".jar": true,
}

// compressibleName reports whether a file is worth storing compressed,
// judging by its name; its size decides too (see worthCompressing).
func compressibleName(name string) bool {
	return !incompressible[strings.ToLower(path.Ext(name))]
}
