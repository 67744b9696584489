package proxy

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

func TestMoveDeadline(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const d = 30 * time.Second // slack: 50ms
	tests := []struct {
		name     string
		cur      time.Time
		wantMove bool
	}{
		{"none set yet", time.Time{}, true},
		{"exact", now.Add(d), false},
		{"slightly earlier, within the slack", now.Add(d - 40*time.Millisecond), false},
		{"earlier than the slack allows", now.Add(d - 60*time.Millisecond), true},
		{"later than wanted (a shorter wait now)", now.Add(d + time.Millisecond), true},
		{"in the past", now.Add(-time.Second), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dl, move := moveDeadline(tt.cur, now, d)
			if move != tt.wantMove {
				t.Fatalf("moveDeadline move = %v, want %v", move, tt.wantMove)
			}
			if move && !dl.Equal(now.Add(d)) {
				t.Errorf("deadline = %v, want now+d", dl)
			}
			if !move && !dl.Equal(tt.cur) {
				t.Errorf("deadline = %v, want the current one kept", dl)
			}
		})
	}
	if s := deadlineSlack(160 * time.Millisecond); s != 10*time.Millisecond {
		t.Errorf("deadlineSlack(160ms) = %v, want d/16 = 10ms", s)
	}
}

// After a response body was read under the long idle deadline, the next
// request's wait for its first byte must get the short route timeout again:
// a deadline kept lazily may only ever be earlier than wanted.
func TestFirstByteDeadlineShortensIdleOne(t *testing.T) {
	t.Parallel()
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	c := &deadlineConn{Conn: client, firstByte: 50 * time.Millisecond, idle: time.Hour}
	go func() { // the upstream: reads a request, answers it in two parts, then reads another and stays silent
		buf := make([]byte, 64)
		_, _ = server.Read(buf)
		_, _ = server.Write([]byte("head"))
		_, _ = server.Write([]byte("body"))
		_, _ = server.Read(buf)
	}()
	buf := make([]byte, 4)
	if _, err := c.Write([]byte("GET 1")); err != nil {
		t.Fatal(err)
	}
	for range 2 { // first byte, then the body under the idle deadline
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Write([]byte("GET 2")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := c.Read(buf); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v, want the first-byte deadline exceeded", err)
		}
	case <-time.After(10 * time.Second): // a liveness bound, not a timing assertion
		t.Fatal("Read still waiting: the hour-long idle deadline was kept for the first byte")
	}
}
