package config

import (
	"fmt"
	"strings"
	"time"
)

func parseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("want a duration like \"30s\", got %q", s)
	}
	return v, nil
}
