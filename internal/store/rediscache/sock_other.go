//go:build !(linux || darwin)

package rediscache

// supported is false: without a way to look at the tracking connection's
// socket without consuming it, the cache could not know whether an
// invalidation is waiting, so New refuses and the store is used uncached.
const supported = false

func readable(uintptr) bool { return true }

func readNow(uintptr, []byte) (int, error) { return 0, ErrUnsupported }
