// Command devoidc is a TEST-ONLY OpenID Connect issuer for the local Sigstore
// stack: it mints a signed ID token for any identity anyone asks for. Never
// expose it beyond loopback and never trust it from a real Fulcio.
//
// Fulcio turns an ID token into a short-lived signing certificate whose SAN is
// the token's email (or subject) and whose issuer extension is the token's
// "iss". To do that it fetches the issuer's discovery document and JWKS and
// checks the token's RS256 signature, audience ("sigstore") and expiry.
// devoidc serves exactly that:
//
//	GET /.well-known/openid-configuration   discovery (issuer, jwks_uri)
//	GET /keys                               JWKS with the one RSA key
//	GET /token?email=E&sub=S[&aud=A]        a fresh ID token (compact JWS) as text/plain
//	GET /healthz                            "ok"
//
// The token carries iss, sub (S, else E), aud (A, else -audience), email (E,
// else S when S looks like an address, else none), email_verified=true, iat,
// nbf and exp (now + -ttl).
//
// The signing key comes from -key-file (PEM, PKCS#1 or PKCS#8 RSA) so that a
// restarted devoidc keeps the key Fulcio has cached; without it a fresh key is
// generated per process. The key id is derived from the public key.
package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() { os.Exit(run()) }

func run() int {
	addr := flag.String("addr", "127.0.0.1:31556", "address to listen on")
	issuer := flag.String("issuer", "", "issuer URL put in tokens and discovery (default http://<addr>)")
	keyFile := flag.String("key-file", "", "PEM RSA private key file (default: a fresh key per process)")
	aud := flag.String("audience", "sigstore", "default token audience")
	ttl := flag.Duration("ttl", 10*time.Minute, "token lifetime")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *issuer == "" {
		*issuer = "http://" + *addr
	}
	key, err := loadKey(*keyFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "devoidc: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	iss := &issuerServer{issuer: strings.TrimSuffix(*issuer, "/"), key: key, kid: keyID(&key.PublicKey),
		audience: *aud, ttl: *ttl, now: time.Now}
	srv := &http.Server{Addr: *addr, Handler: iss.mux(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("test OIDC issuer listening", "addr", *addr, "issuer", iss.issuer, "kid", iss.kid)
	select {
	case err := <-errc:
		log.Error("serving", "err", err)
		return 1
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("shutting down", "err", err)
		return 1
	}
	return 0
}

func loadKey(path string) (*rsa.PrivateKey, error) {
	if path == "" {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("generating RSA key: %w", err)
		}
		return k, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("key file %s holds no PEM block", path)
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing key file %s: %w", path, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key file %s holds a %T, want an RSA key", path, k)
	}
	return rk, nil
}

// keyID is the first 16 bytes of the SHA-256 of the PKIX public key, base64url.
func keyID(pub *rsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic("marshaling an RSA public key: " + err.Error()) // cannot happen for a valid key
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

type issuerServer struct {
	issuer   string
	key      *rsa.PrivateKey
	kid      string
	audience string
	ttl      time.Duration
	now      func() time.Time
}

func (s *issuerServer) mux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /.well-known/openid-configuration", s.discovery)
	m.HandleFunc("GET /keys", s.jwks)
	m.HandleFunc("/token", s.token)
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	return m
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *issuerServer) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{
		"issuer":                                s.issuer,
		"jwks_uri":                              s.issuer + "/keys",
		"authorization_endpoint":                s.issuer + "/auth",
		"token_endpoint":                        s.issuer + "/token",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "email", "email_verified"},
	})
}

func (s *issuerServer) jwks(w http.ResponseWriter, _ *http.Request) {
	b64 := base64.RawURLEncoding
	writeJSON(w, map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": s.kid,
		"n": b64.EncodeToString(s.key.N.Bytes()),
		"e": b64.EncodeToString(big.NewInt(int64(s.key.E)).Bytes()),
	}}})
}

func (s *issuerServer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "parsing form: "+err.Error(), http.StatusBadRequest)
		return
	}
	email, sub, aud := r.Form.Get("email"), r.Form.Get("sub"), r.Form.Get("aud")
	if email == "" && strings.Contains(sub, "@") {
		email = sub
	}
	if email == "" && sub == "" {
		email = "test@example.com"
	}
	if sub == "" {
		sub = email
	}
	if aud == "" {
		aud = s.audience
	}
	now := s.now()
	claims := map[string]any{
		"iss": s.issuer, "sub": sub, "aud": aud,
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(s.ttl).Unix(),
	}
	if email != "" {
		claims["email"] = email
		claims["email_verified"] = true
	}
	tok, err := s.sign(claims)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte(tok))
}

func (s *issuerServer) sign(claims map[string]any) (string, error) {
	b64 := base64.RawURLEncoding
	h, err := json.Marshal(map[string]string{"alg": "RS256", "kid": s.kid, "typ": "JWT"})
	if err != nil {
		return "", fmt.Errorf("encoding header: %w", err)
	}
	p, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding claims: %w", err)
	}
	in := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	d := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, d[:])
	if err != nil {
		return "", fmt.Errorf("signing token: %w", err)
	}
	return in + "." + b64.EncodeToString(sig), nil
}
