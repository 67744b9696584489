package conf

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration read from strings like "5s" or "1m30s"; a
// number without a unit is refused (is "30" seconds or milliseconds?).
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ByteSize is a size in bytes read from strings like "10MB", "512KB" or "1048576".
// KB/MB/GB are binary (1024-based), as people mean them in limits.
type ByteSize int64

// String formats the duration as time.Duration does ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML reads a duration such as "5s", "1m30s" or "0".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a duration like \"30s\", got %s", KindName(n))
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func parseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("want a duration like \"30s\", got %q", s)
	}
	return v, nil
}

// String formats the size with the largest binary unit that divides it
// exactly ("10MB", "1536KB", "100B"), in the form UnmarshalYAML reads.
func (b ByteSize) String() string {
	if b == 0 {
		return "0B"
	}
	for _, u := range byteUnits[1:] {
		if b%ByteSize(u.size) == 0 {
			return strconv.FormatInt(int64(b)/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// UnmarshalYAML reads a size such as "10MB", "512KB", "1GB" or a plain byte
// count. Units are binary (KB = 1024 bytes) and case-insensitive; KiB, MiB,
// GiB and TiB are accepted as synonyms.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a size like \"10MB\", got %s", KindName(n))
	}
	v, err := parseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// byteUnits is ordered largest first for String, with the plain byte last.
var byteUnits = []struct {
	name string
	size int64
}{
	{"B", 1}, // index 0 is skipped by String
	{"TB", 1 << 40},
	{"GB", 1 << 30},
	{"MB", 1 << 20},
	{"KB", 1 << 10},
}

var errSizeRange = errors.New("out of range")

func parseByteSize(s string) (ByteSize, error) {
	bad := fmt.Errorf("want a size like \"10MB\", got %q", s)
	t := strings.ToUpper(strings.TrimSpace(s))
	// Split digits from the unit.
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, bad
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	unit = strings.Replace(unit, "IB", "B", 1) // KiB → KB
	mult := int64(0)
	if unit == "" {
		mult = 1
	}
	for _, u := range byteUnits {
		if unit == u.name {
			mult = u.size
		}
	}
	if mult == 0 {
		return 0, bad
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is %w", s, errSizeRange)
	}
	return ByteSize(v * mult), nil
}
