// Package faultproxy is a fault-injecting HTTP proxy for tests: it sits in
// front of a real Rekor log and, on demand, answers for it with what a real
// log will not produce on request: forged checkpoints signed with the log's
// own key (forks, rollbacks, wrong origins), bad signatures, corrupted
// proofs and entries, server errors, garbage, truncated or oversized bodies,
// and hangs.
//
// Everything that is not being faked is forwarded unchanged, so the monitor
// under test talks to the real log through it.
package faultproxy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// Fault rewrites the response to one request. It gets the request and the
// real response body (already read, status 200 only) and returns the status
// and body to send; handled=false forwards the real response.
type Fault func(r *http.Request, real []byte) (status int, body []byte, handled bool)

// Proxy forwards to a real log, applying the current fault. It is safe for
// concurrent use.
type Proxy struct {
	URL    string // the proxy's base URL
	target *url.URL
	srv    *httptest.Server
	rp     *httputil.ReverseProxy

	mu    sync.Mutex // guards fault and special
	fault Fault
	// special handles requests itself (hang, truncate) instead of Fault.
	special func(w http.ResponseWriter, r *http.Request) bool
}

// New starts a proxy on 127.0.0.1 in front of target (a base URL); Close
// stops it.
func New(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("parsing target URL: %w", err)
	}
	// Requests to URL keep their whole path (the target's included), so
	// the reverse proxy forwards to the target's host alone.
	p := &Proxy{target: u, rp: httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL + strings.TrimSuffix(u.Path, "/")
	return p, nil
}

// Start is New for tests: it fails tb on error and closes the proxy when the
// test ends.
func Start(tb testing.TB, target string) *Proxy {
	tb.Helper()
	p, err := New(target)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}

// Close stops the proxy; requests in flight (hangs) are cut.
func (p *Proxy) Close() {
	p.srv.CloseClientConnections()
	p.srv.Close()
}

// Set installs a fault (nil: pass everything through).
func (p *Proxy) Set(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault, p.special = f, nil
}

// Clear removes any fault.
func (p *Proxy) Clear() { p.Set(nil) }

// Hang makes requests whose path matches hang until the client gives up.
func (p *Proxy) Hang(match func(path string) bool) {
	p.setSpecial(func(w http.ResponseWriter, r *http.Request) bool {
		if !match(r.URL.Path) {
			return false
		}
		<-r.Context().Done()
		return true
	})
}

// Truncate makes responses to matching paths announce a Content-Length and
// then close the connection early.
func (p *Proxy) Truncate(match func(path string) bool) {
	p.setSpecial(func(w http.ResponseWriter, r *http.Request) bool {
		if !match(r.URL.Path) {
			return false
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			return false
		}
		conn, buf, err := hj.Hijack()
		if err != nil {
			return false
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n{\"trunc")
		buf.Flush()
		return true
	})
}

func (p *Proxy) setSpecial(h func(w http.ResponseWriter, r *http.Request) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault, p.special = nil, h
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	fault, special := p.fault, p.special
	p.mu.Unlock()
	if special != nil && special(w, r) {
		return
	}
	if fault == nil {
		p.rp.ServeHTTP(w, r)
		return
	}
	// Fetch the real response, then let the fault rewrite it.
	rec := httptest.NewRecorder()
	r2 := r.Clone(r.Context())
	r2.Header.Del("Accept-Encoding")
	p.rp.ServeHTTP(rec, r2)
	status, body := rec.Code, rec.Body.Bytes()
	if s, b, ok := fault(r, body); ok {
		status, body = s, b
	}
	for k, v := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// Path matches requests by exact path suffix.
func Path(suffix string) func(string) bool {
	return func(p string) bool { return strings.HasSuffix(p, suffix) }
}

// OnPath applies f to requests whose path ends with suffix only.
func OnPath(suffix string, f Fault) Fault {
	return func(r *http.Request, real []byte) (int, []byte, bool) {
		if !strings.HasSuffix(r.URL.Path, suffix) {
			return 0, nil, false
		}
		return f(r, real)
	}
}

// Status answers with code and a short body.
func Status(code int) Fault {
	return func(*http.Request, []byte) (int, []byte, bool) {
		return code, []byte(http.StatusText(code) + "\n"), true
	}
}

// Body answers 200 with body.
func Body(body []byte) Fault {
	return func(*http.Request, []byte) (int, []byte, bool) { return http.StatusOK, body, true }
}

// Signer signs checkpoints as the log does, with the log's own private key.
type Signer struct{ note.Signer }

// LoadSigner reads a PKCS#8 PEM private key and returns a note signer named
// name: ECDSA keys sign like Rekor v1 (key hint = SHA-256 of the DER public
// key), Ed25519 keys like Rekor v2 (standard signed-note key hash).
func LoadSigner(path, name string) (*Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(der)
		return &Signer{&ecdsaSigner{name: name, hash: binary.BigEndian.Uint32(sum[:]), key: k}}, nil
	case ed25519.PrivateKey:
		pub := k.Public().(ed25519.PublicKey)
		h := sha256.New()
		h.Write([]byte(name + "\n"))
		h.Write(append([]byte{1}, pub...))
		hash := binary.BigEndian.Uint32(h.Sum(nil))
		skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, hash, base64.StdEncoding.EncodeToString(append([]byte{1}, k.Seed()...)))
		s, err := note.NewSigner(skey)
		if err != nil {
			return nil, err
		}
		return &Signer{s}, nil
	default:
		return nil, fmt.Errorf("%s: unsupported key type %T", path, k)
	}
}

type ecdsaSigner struct {
	name string
	hash uint32
	key  *ecdsa.PrivateKey
}

func (s *ecdsaSigner) Name() string    { return s.name }
func (s *ecdsaSigner) KeyHash() uint32 { return s.hash }
func (s *ecdsaSigner) Sign(msg []byte) ([]byte, error) {
	d := sha256.Sum256(msg)
	return ecdsa.SignASN1(rand.Reader, s.key, d[:])
}

// Checkpoint signs a checkpoint for origin, size and root.
func (s *Signer) Checkpoint(origin string, size uint64, root []byte) []byte {
	text := fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root))
	b, err := note.Sign(&note.Note{Text: text}, s.Signer)
	if err != nil {
		panic("signing test checkpoint: " + err.Error()) // only with a broken signer
	}
	return b
}

// Text signs arbitrary note text (for malformed checkpoints).
func (s *Signer) Text(text string) []byte {
	b, err := note.Sign(&note.Note{Text: text}, s.Signer)
	if err != nil {
		panic("signing test note: " + err.Error())
	}
	return b
}

// ParseNote splits a checkpoint note into origin, size and root, without
// verifying it.
func ParseNote(raw []byte) (origin string, size uint64, root []byte, err error) {
	lines := strings.SplitN(string(raw), "\n", 4)
	if len(lines) < 4 {
		return "", 0, nil, errors.New("short note")
	}
	size, err = strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return "", 0, nil, err
	}
	root, err = base64.StdEncoding.DecodeString(lines[2])
	return lines[0], size, root, err
}

// RandomHash returns 32 random bytes.
func RandomHash() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// FlipSignature corrupts the last signature byte of a signed note.
func FlipSignature(raw []byte) []byte {
	out := bytes.Clone(raw)
	i := bytes.LastIndex(out, []byte(" "))
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(out[i+1:])))
	if err != nil || len(sig) < 6 {
		return append(out[:len(out)-3], "AA\n"...)
	}
	sig[len(sig)-1] ^= 0x01
	return append(out[:i+1], []byte(base64.StdEncoding.EncodeToString(sig)+"\n")...)
}
