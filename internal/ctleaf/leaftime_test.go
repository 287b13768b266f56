package ctleaf_test

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/ctleaf"
	"github.com/vigil-tlog/vigil/internal/ctleaf/ctleaftest"
)

func TestLeafTime(t *testing.T) {
	l, err := ctleaftest.NewLog("log.example")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ctleaftest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	k, err := ctleaftest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	const ts = 1_700_000_000_123
	if _, err := ca.Issue(l, k.Public(), "a@example.com", "https://issuer.example.com", ts); err != nil {
		t.Fatal(err)
	}
	leaf, _ := l.Entry(0)
	stamp := func(ms uint64) []byte {
		b := []byte{0, 0}
		return binary.BigEndian.AppendUint64(b, ms)
	}
	for _, tc := range []struct {
		name string
		leaf []byte
		want time.Time
		ok   bool
	}{
		{"precert leaf", leaf, time.UnixMilli(ts).UTC(), true},
		{"timestamp only", stamp(1), time.UnixMilli(1).UTC(), true},
		{"epoch", stamp(0), time.UnixMilli(0).UTC(), true},
		{"past int64", stamp(math.MaxInt64 + 1), time.Time{}, false},
		{"short", leaf[:9], time.Time{}, false},
		{"empty", nil, time.Time{}, false},
		{"version v2", append([]byte{1}, leaf[1:]...), time.Time{}, false},
		{"leaf type", append([]byte{0, 1}, leaf[2:]...), time.Time{}, false},
	} {
		got, ok := ctleaf.LeafTime(tc.leaf)
		if ok != tc.ok || !got.Equal(tc.want) || (ok && got.Location() != time.UTC) {
			t.Errorf("%s: LeafTime = %v, %v; want %v, %v (UTC)", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
