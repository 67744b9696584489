package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRunFlags(t *testing.T) {
	t.Setenv("OIDC_ISSUER", "")
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"issuer required", nil, 2},
		{"unknown flag", []string{"-nope"}, 2},
		{"bad listen address", []string{"-issuer", "http://127.0.0.1:1", "-profile-addr", "256.0.0.1:1"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := run(tt.args, io.Discard); got != tt.want {
				t.Errorf("run(%q) = %d, want %d", tt.args, got, tt.want)
			}
		})
	}
}

func TestProbe(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer bad.Close()
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"healthy", []string{"probe", ok.URL}, 0},
		{"unhealthy", []string{"probe", bad.URL}, 1},
		{"unreachable", []string{"probe", "http://127.0.0.1:1/"}, 1},
		{"no url", []string{"probe"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := run(tt.args, io.Discard); got != tt.want {
				t.Errorf("run(%q) = %d, want %d", tt.args, got, tt.want)
			}
		})
	}
}
