package store_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		setting string
		want    store.Kind // 0: an error
	}{
		{"", store.Memory},
		{"memory", store.Memory},
		{"redis://127.0.0.1:6379/0", store.Redis},
		{"rediss://:hunter2@redis.example:6380/1", store.Redis},
		{"Memory", 0},
		{"redis:127.0.0.1", 0},
		{"memcached://:hunter2@h", 0},
	} {
		got, err := store.KindOf(tc.setting)
		if got != tc.want || (err != nil) != (tc.want == 0) {
			t.Errorf("KindOf(%q) = %v, %v, want %v", tc.setting, got, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("KindOf(%q) error %q repeats the password", tc.setting, err)
		}
	}
}
