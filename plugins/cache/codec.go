package cache

import (
	"encoding/binary"
	"errors"
	"time"
)

// entryVersion is the first byte of an encoded entry; a change of format
// gets a new version, and entries of another version are misses.
const entryVersion = 1

// encodeEntry serialises e: version, status, times (Unix ns), path, Vary
// names, header fields and body, lengths as uvarints.
func encodeEntry(e *Entry) []byte {
	n := 64 + len(e.Path) + len(e.Body)
	for _, f := range e.Header {
		n += len(f.Name) + len(f.Value) + 8
	}
	for _, v := range e.Vary {
		n += len(v) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, entryVersion)
	b = binary.AppendUvarint(b, uint64(e.Status))
	b = binary.AppendVarint(b, e.Stored.UnixNano())
	b = binary.AppendVarint(b, e.Expires.UnixNano())
	b = binary.AppendVarint(b, int64(e.InitialAge))
	b = appendPart(b, e.Path)
	b = binary.AppendUvarint(b, uint64(len(e.Vary)))
	for _, v := range e.Vary {
		b = appendPart(b, v)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Header)))
	for _, f := range e.Header {
		b = appendPart(b, f.Name)
		b = appendPart(b, f.Value)
	}
	return appendPart(b, e.Body)
}

// errCorrupt reports an encoded entry that does not decode.
var errCorrupt = errors.New("corrupt entry")

// decoder reads an encoded entry, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes returns the next length-prefixed part, sharing the input.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

// count reads a number of items each taking at least min bytes, refusing
// counts the rest of the input cannot hold (no allocation from a bad count).
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/min) {
		d.err = errCorrupt
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}

// decodeEntry parses what encodeEntry wrote. The entry's byte slices share b.
func decodeEntry(b []byte) (*Entry, error) {
	if len(b) == 0 || b[0] != entryVersion {
		return nil, errCorrupt
	}
	d := &decoder{b: b[1:]}
	e := &Entry{}
	status := d.uvarint()
	if status > 999 {
		d.err = errCorrupt
	}
	e.Status = int(status)
	e.Stored = time.Unix(0, d.varint())
	e.Expires = time.Unix(0, d.varint())
	e.InitialAge = time.Duration(d.varint())
	e.Path = string(d.bytes())
	if n := d.count(1); n > 0 {
		e.Vary = make([]string, n)
		for i := range e.Vary {
			e.Vary[i] = string(d.bytes())
		}
	}
	if n := d.count(2); n > 0 {
		e.Header = make([]Field, n)
		for i := range e.Header {
			e.Header[i] = Field{Name: d.bytes(), Value: d.bytes()}
		}
	}
	e.Body = d.bytes()
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return nil, d.err
	}
	return e, nil
}
