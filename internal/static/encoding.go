package static

import (
	"bytes"
	"compress/gzip"
	"container/list"
	"fmt"
	"strconv"
	"sync"
	"time"

	brrr "github.com/molecule-man/go-brrr"
)

// encoding is a content coding the handler can send.
type encoding uint8

const (
	identity encoding = iota
	gzipEnc
	brotliEnc
)

// token is the coding's name in Accept-Encoding / Content-Encoding.
func (e encoding) token() string {
	switch e {
	case gzipEnc:
		return "gzip"
	case brotliEnc:
		return "br"
	}
	return "identity"
}

// suffix is the extension of a precompressed sibling file.
func (e encoding) suffix() string {
	switch e {
	case gzipEnc:
		return ".gz"
	case brotliEnc:
		return ".br"
	}
	return ""
}

// accepted parses an Accept-Encoding header (RFC 9110 §12.5.3) and returns
// the codings to try, best first: br before gzip, each only when the client
// gives it a q-value above 0 ("*" counts for codings not named). identity is
// always the last resort and is not returned.
func accepted(h []byte) []encoding {
	if len(h) == 0 {
		return nil
	}
	var br, gz, star = -1.0, -1.0, -1.0
	for part := range bytes.SplitSeq(h, []byte{','}) {
		name, params, _ := bytes.Cut(part, []byte{';'})
		name = bytes.TrimSpace(name)
		q, ok := qValue(params)
		if !ok {
			q = 1
		}
		switch {
		case bytes.EqualFold(name, []byte("br")):
			br = q
		case bytes.EqualFold(name, []byte("gzip")), bytes.EqualFold(name, []byte("x-gzip")):
			gz = q
		case bytes.Equal(name, []byte("*")):
			star = q
		}
	}
	if br < 0 {
		br = star
	}
	if gz < 0 {
		gz = star
	}
	var out []encoding
	switch {
	case br > 0 && br >= gz:
		out = append(out, brotliEnc)
		if gz > 0 {
			out = append(out, gzipEnc)
		}
	case gz > 0:
		out = append(out, gzipEnc)
		if br > 0 {
			out = append(out, brotliEnc)
		}
	}
	return out
}

// compress encodes data with e at a level that suits serving on the fly
// (the result is cached, so a middle level pays off).
func compress(e encoding, data []byte) ([]byte, error) {
	switch e {
	case brotliEnc:
		out, err := brrr.Compress(data, 6)
		if err != nil {
			return nil, fmt.Errorf("brotli: %w", err)
		}
		return out, nil
	case gzipEnc:
		var buf bytes.Buffer
		buf.Grow(len(data) / 3)
		zw, err := gzip.NewWriterLevel(&buf, 6)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if _, err := zw.Write(data); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return buf.Bytes(), nil
	}
	return nil, fmt.Errorf("unsupported encoding %q", e.token())
}

// cacheKey identifies one compressed representation of one version of a file.
type cacheKey struct {
	name  string
	enc   encoding
	size  int64
	mtime time.Time
}

// compCache keeps compressed bodies in memory, bounded by total bytes, least
// recently used evicted first. It never writes to disk: the served directory
// may be (and in a container should be) read-only.
type compCache struct {
	mu    sync.Mutex
	max   int64
	used  int64
	order *list.List // of *cacheEntry, most recent at the front
	items map[cacheKey]*list.Element
}

type cacheEntry struct {
	key  cacheKey
	data []byte
}

func newCompCache(max int64) *compCache {
	return &compCache{max: max, order: list.New(), items: make(map[cacheKey]*list.Element)}
}

func (c *compCache) get(k cacheKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheEntry).data, true
}

func (c *compCache) put(k cacheKey, data []byte) {
	size := int64(len(data))
	if size > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.order.MoveToFront(el)
		return
	}
	for c.used+size > c.max {
		last := c.order.Back()
		e := last.Value.(*cacheEntry)
		c.order.Remove(last)
		delete(c.items, e.key)
		c.used -= int64(len(e.data))
	}
	c.items[k] = c.order.PushFront(&cacheEntry{key: k, data: data})
	c.used += size
}

// len returns the number of cached bodies (for tests).
func (c *compCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// acceptsHTML reports whether an Accept header names text/html with a
// q-value above 0. Browsers list text/html explicitly on every navigation;
// fetch() sends "*/*" by default and tools such as curl send "*/*" too, so a
// wildcard does not count: a mistyped API path called from code gets a 404,
// not the SPA's HTML with status 200.
func acceptsHTML(h []byte) bool {
	for part := range bytes.SplitSeq(h, []byte{','}) {
		mt, params, _ := bytes.Cut(part, []byte{';'})
		if !bytes.EqualFold(bytes.TrimSpace(mt), []byte("text/html")) {
			continue
		}
		if q, ok := qValue(params); !ok || q > 0 {
			return true
		}
	}
	return false
}

// qValue finds q= in a parameter list (";q=0.5;x=y"); ok is false when there
// is none. A malformed or out-of-range weight reads as 0, so it never selects.
func qValue(params []byte) (float64, bool) {
	for p := range bytes.SplitSeq(params, []byte{';'}) {
		k, v, found := bytes.Cut(bytes.TrimSpace(p), []byte{'='})
		if found && bytes.EqualFold(bytes.TrimSpace(k), []byte("q")) {
			f, err := strconv.ParseFloat(string(bytes.TrimSpace(v)), 64)
			if err != nil || f < 0 || f > 1 {
				return 0, true
			}
			return f, true
		}
	}
	return 0, false
}
