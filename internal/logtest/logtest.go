// Package logtest holds test helpers for reading what a running component
// logged.
package logtest

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer that a logger's goroutines and a test may use at
// once. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
