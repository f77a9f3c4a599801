package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestValidSignature(t *testing.T) {
	body := []byte(`{"zen":"Keep it logically awesome."}`)
	good := sign("s3cret", body)
	flipped := []byte(good)
	if flipped[len(flipped)-1] == '0' {
		flipped[len(flipped)-1] = '1'
	} else {
		flipped[len(flipped)-1] = '0'
	}
	tamperedBody := append([]byte(nil), body...)
	tamperedBody[3] ^= 1
	tests := []struct {
		name   string
		header string
		body   []byte
		want   bool
	}{
		{"valid", good, body, true},
		{"wrong secret", sign("other", body), body, false},
		{"one flipped byte in the signature", string(flipped), body, false},
		{"one flipped byte in the body", good, tamperedBody, false},
		{"missing header", "", body, false},
		{"sha1 scheme", "sha1=" + good[7:], body, false},
		{"not hex", "sha256=zz", body, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validSignature("s3cret", tt.header, tt.body); got != tt.want {
				t.Errorf("validSignature = %v, want %v", got, tt.want)
			}
		})
	}
}
