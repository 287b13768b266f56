package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigil-tlog/vigil/internal/config"
)

func ExampleParse() {
	dir, err := os.MkdirTemp("", "vigil-config-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	key := filepath.Join(dir, "rekor.pub")
	if err := os.WriteFile(key, []byte("-----BEGIN PUBLIC KEY-----\n"), 0o600); err != nil {
		fmt.Println(err)
		return
	}

	c, err := config.Parse(strings.NewReader(`
state_dir: /var/lib/vigil
logs:
  - name: rekor
    kind: rekor-v1
    url: https://rekor.sigstore.local
    public_key_file: ` + key + `
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	l := c.Logs[0]
	fmt.Println(c.Listen, l.Origin, time.Duration(l.Interval), time.Duration(l.Staleness))

	// A typo is an error, not a silently ignored key.
	_, err = config.Parse(strings.NewReader("state_dir: /x\nstaleness: 1h\n"))
	fmt.Println(err)
	// Output:
	// :9464 rekor.sigstore.local 30s 15m0s
	// staleness: line 2: field staleness not found; did you mean logs[].staleness?
}
