//go:build linux || darwin

package rediscache

import "syscall"

// supported is true where the tracking connection's socket can be looked at
// without consuming it (MSG_PEEK with MSG_DONTWAIT).
const supported = true

// readable reports whether the socket fd has anything to act on without
// waiting: bytes, the peer's close, or an error. It consumes nothing.
func readable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
}

// readNow reads what the socket fd holds into p without waiting: n == 0 with
// a nil error is the peer's close, errAgain that nothing is there.
func readNow(fd uintptr, p []byte) (int, error) {
	for {
		n, err := syscall.Read(int(fd), p)
		switch err {
		case nil:
			return n, nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, errAgain
		}
		return 0, err
	}
}
