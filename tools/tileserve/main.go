// Command tileserve serves a Rekor v2 (rekor-tiles, POSIX backend) or static-ct
// (tesseract, POSIX backend) storage directory over HTTP, read-only, for the
// local test stack.
//
// rekor-tiles only writes: its POST /api/v2/log/entries appends, while the
// read side of the tlog-tiles API is a tree of static files that tessera's
// POSIX driver writes under --storage-dir:
//
//	checkpoint                      the latest signed note
//	tile/<L>/<N>                    a full hash tile at level L
//	tile/<L>/<N>.p/<W>              a partial tile of width W (a directory "<N>.p" holding file "<W>")
//	tile/entries/<N>                a full entry bundle
//	tile/entries/<N>.p/<W>          a partial entry bundle
//
// where N is split in 3-digit groups ("x001/x234/067"). A static-ct-api log
// (c2sp.org/static-ct-api) has the same checkpoint and hash tiles, its data
// tiles under tile/data/ instead of tile/entries/, and the issuer certificates
// its entries name as issuer/<hex SHA-256 of the DER>, served as
// application/pkix-cert. Upstream puts nginx in front of it; [http.FileServer]
// serves the same paths. tessera's private bookkeeping lives in dot-directories
// (".state"), which are not served.
//
// Usage:
//
//	tileserve -addr 127.0.0.1:31380 -dir /path/to/storage-dir
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() { os.Exit(run()) }

func run() int {
	addr := flag.String("addr", "127.0.0.1:31380", "address to listen on")
	dir := flag.String("dir", "", "rekor-tiles or tesseract storage directory to serve (required)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "tileserve: -dir is required")
		return 2
	}
	if fi, err := os.Stat(*dir); err != nil || !fi.IsDir() {
		fmt.Fprintf(os.Stderr, "tileserve: -dir %s is not a directory\n", *dir)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /", handler(*dir))
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("serving tiles", "addr", *addr, "dir", *dir)
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

// handler serves dir as static files. Paths with a dot-prefixed element
// (tessera's ".state") are 404, and directory listings are refused: the
// tiles API only names files.
func handler(dir string) http.Handler {
	fs := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		for _, el := range strings.Split(p, "/") {
			if strings.HasPrefix(el, ".") {
				http.NotFound(w, r)
				return
			}
		}
		if strings.HasSuffix(p, "/") {
			http.NotFound(w, r)
			return
		}
		if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(path.Clean(p)))); err == nil && fi.IsDir() {
			http.NotFound(w, r)
			return
		}
		// The checkpoint changes every few hundred milliseconds; tiles and issuers never change.
		switch {
		case p == "/checkpoint":
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		case strings.HasPrefix(p, "/issuer/"):
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			w.Header().Set("Content-Type", "application/pkix-cert")
		default:
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			w.Header().Set("Content-Type", "application/octet-stream")
		}
		fs.ServeHTTP(w, r)
	})
}
