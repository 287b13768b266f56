package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ByteSize is a number of bytes, written in YAML as a plain integer
// (67108864) or as an integer with a unit: B, KiB, MiB, GiB, TiB (powers of
// 1024) or kB, MB, GB, TB (powers of 1000), e.g. "64MiB" or "512 KiB".
// Fractions are not accepted.
type ByteSize int64

// Common sizes.
const (
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
)

// Int64 returns s as a number of bytes.
func (s ByteSize) Int64() int64 { return int64(s) }

// byteUnits are the accepted units, matched case-sensitively except that
// "k" and "K" both mean 1000 (kB is the SI spelling, KB the common one).
var byteUnits = []struct {
	name string
	mult int64
}{
	{"B", 1},
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
}

// errByteSize is the cause of every [ParseByteSize] error.
var errByteSize = errors.New(`use bytes or a unit, e.g. 64MiB, 512KiB, 1GiB`)

// ParseByteSize parses a size as [ByteSize] documents it.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q is not a size: %w", s, errByteSize)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is too large", s)
	}
	unit := strings.TrimSpace(t[i:])
	if unit == "" {
		return ByteSize(n), nil
	}
	for _, u := range byteUnits {
		if u.name != unit {
			continue
		}
		if n > math.MaxInt64/u.mult {
			return 0, fmt.Errorf("%q is too large", s)
		}
		return ByteSize(n * u.mult), nil
	}
	return 0, fmt.Errorf("%q is not a size: %w", s, errByteSize)
}

// String formats s with the largest binary unit that divides it exactly,
// e.g. "64MiB", "1536KiB", "100B".
func (s ByteSize) String() string {
	for _, u := range []struct {
		name string
		mult ByteSize
	}{{"TiB", 1 << 40}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}} {
		if s != 0 && s%u.mult == 0 {
			return strconv.FormatInt(int64(s/u.mult), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// UnmarshalYAML accepts an integer or a size string.
func (s *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a size (e.g. 64MiB), got %s", describeNode(n))
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalYAML writes the size as [ByteSize.String] does.
func (s ByteSize) MarshalYAML() (any, error) { return s.String(), nil }
