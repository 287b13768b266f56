package tuftest

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

func get(t *testing.T, url string) (int, []byte, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func TestRepoLayout(t *testing.T) {
	r := New(t)
	for _, p := range []string{"1.root.json", "root.json", "timestamp.json", "1.snapshot.json", "1.targets.json",
		r.TargetPath(TrustedRootTarget), r.TargetPath(SigningConfigTarget)} {
		if code, _, err := get(t, r.URL()+"/"+p); err != nil || code != http.StatusOK {
			t.Errorf("GET %s = %d, %v; want 200", p, code, err)
		}
	}
	_, b, _ := get(t, r.URL()+"/1.root.json")
	if !bytes.Equal(b, r.RootJSON()) {
		t.Errorf("1.root.json is not RootJSON()")
	}
	root, err := metadata.Root().FromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := root.VerifyDelegate(metadata.ROOT, root); err != nil {
		t.Errorf("root does not verify itself: %v", err)
	}
	if !root.Signed.ConsistentSnapshot {
		t.Errorf("root does not use consistent snapshots")
	}

	r.Publish()
	if _, _, ts, tg := r.Versions(); ts != 2 || tg != 2 {
		t.Errorf("after Publish timestamp, targets versions = %d, %d; want 2, 2", ts, tg)
	}
	r.Hide("timestamp.json")
	if code, _, _ := get(t, r.URL()+"/timestamp.json"); code != http.StatusNotFound {
		t.Errorf("hidden timestamp.json: %d, want 404", code)
	}
	r.Restore("timestamp.json")
	r.Down(true)
	if _, _, err := get(t, r.URL()+"/timestamp.json"); err == nil {
		t.Errorf("GET from a down mirror succeeded")
	}
	r.Down(false)
	if code, _, err := get(t, r.URL()+"/timestamp.json"); err != nil || code != http.StatusOK {
		t.Errorf("GET after Down(false) = %d, %v", code, err)
	}
	if len(r.Requests()) == 0 {
		t.Errorf("no requests recorded")
	}
}
