package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decoding %s: %v", url, err)
	}
}

func TestIssuer(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	s := &issuerServer{key: key, kid: keyID(&key.PublicKey), audience: "sigstore", ttl: 10 * time.Minute,
		now: func() time.Time { return now }}
	srv := httptest.NewServer(s.mux())
	defer srv.Close()
	s.issuer = srv.URL

	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, srv.URL+"/.well-known/openid-configuration", &disc)
	if disc.Issuer != srv.URL || disc.JWKSURI != srv.URL+"/keys" {
		t.Errorf("discovery = %+v, want issuer %s", disc, srv.URL)
	}
	var jwks struct {
		Keys []struct{ Kid, N, E string } `json:"keys"`
	}
	getJSON(t, disc.JWKSURI, &jwks)
	if len(jwks.Keys) != 1 || jwks.Keys[0].Kid != s.kid {
		t.Fatalf("jwks = %+v, want one key %s", jwks, s.kid)
	}
	b64 := base64.RawURLEncoding
	n, _ := b64.DecodeString(jwks.Keys[0].N)
	e, _ := b64.DecodeString(jwks.Keys[0].E)
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}

	tests := []struct {
		name, query        string
		wantSub, wantEmail string
		wantAud            string
	}{
		{"email", "email=alice@example.com", "alice@example.com", "alice@example.com", "sigstore"},
		{"email and sub", "email=bob@example.com&sub=12345", "12345", "bob@example.com", "sigstore"},
		{"sub only", "sub=repo:org/app:ref:refs/heads/main", "repo:org/app:ref:refs/heads/main", "", "sigstore"},
		{"default", "", "test@example.com", "test@example.com", "sigstore"},
		{"audience", "email=c@example.com&aud=other", "c@example.com", "c@example.com", "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + "/token?" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			parts := strings.Split(string(raw), ".")
			if len(parts) != 3 {
				t.Fatalf("token %q is not a compact JWS", raw)
			}
			sig, err := b64.DecodeString(parts[2])
			if err != nil {
				t.Fatal(err)
			}
			d := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
			if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig); err != nil {
				t.Errorf("token signature does not verify with the JWKS key: %v", err)
			}
			var hdr struct{ Alg, Kid string }
			h, _ := b64.DecodeString(parts[0])
			if err := json.Unmarshal(h, &hdr); err != nil || hdr.Alg != "RS256" || hdr.Kid != s.kid {
				t.Errorf("header = %s, want RS256 with kid %s", h, s.kid)
			}
			var c struct {
				Iss, Sub, Aud, Email string
				EmailVerified        bool  `json:"email_verified"`
				Exp                  int64 `json:"exp"`
			}
			p, _ := b64.DecodeString(parts[1])
			if err := json.Unmarshal(p, &c); err != nil {
				t.Fatal(err)
			}
			if c.Iss != srv.URL || c.Sub != tt.wantSub || c.Email != tt.wantEmail || c.Aud != tt.wantAud {
				t.Errorf("claims = %s, want sub %q email %q aud %q", p, tt.wantSub, tt.wantEmail, tt.wantAud)
			}
			if tt.wantEmail != "" && !c.EmailVerified {
				t.Error("email_verified is false")
			}
			if c.Exp != now.Add(10*time.Minute).Unix() {
				t.Errorf("exp = %d, want now+10m", c.Exp)
			}
		})
	}
}
