package route

import (
	"sort"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// Entry is one compiled route of a Table.
type Entry struct {
	// Route is the configured route; it points into the slice given to NewTable.
	Route *config.Route
	// Index is the route's position in that slice, so that callers can keep
	// per-route state (proxies, plugin chains) in a parallel slice.
	Index int
	// Prefix is the route's prefix (config.Route.Prefix, canonical: without
	// a trailing slash except for the root prefix "/").
	Prefix string
}

// Table finds the route for a canonical path by longest prefix on
// path-segment boundaries. It is immutable after NewTable and safe for
// concurrent use.
type Table struct {
	// entries is sorted by prefix length, longest first, so the first match
	// is the longest. A linear scan over tens of routes is faster than a trie
	// walk and allocation-free.
	entries []Entry
}

// NewTable compiles routes into a Table. The prefixes are as config gives
// them: canonical (starting with '/', without a trailing slash but for the
// root "/", no dot-segment, empty segment or escape) and unique; nothing
// here checks them again. The Table keeps pointers into routes, which must
// not be modified afterwards.
func NewTable(routes []config.Route) *Table {
	t := &Table{entries: make([]Entry, len(routes))}
	for i := range routes {
		t.entries[i] = Entry{Route: &routes[i], Index: i, Prefix: routes[i].Prefix}
	}
	sort.SliceStable(t.entries, func(a, b int) bool {
		return len(t.entries[a].Prefix) > len(t.entries[b].Prefix)
	})
	return t
}

// Match returns the entry whose prefix is the longest match for path on a
// path-segment boundary, or nil when none matches. path must be canonical
// (see Normalize). "/api/users" matches "/api/users", "/api/users/" and
// "/api/users/7" but not "/api/usersX"; the prefix "/" matches every path.
// Match does not allocate.
func (t *Table) Match(path []byte) *Entry {
	for i := range t.entries {
		e := &t.entries[i]
		if HasPrefix(path, e.Prefix) {
			return e
		}
	}
	return nil
}

// Entries returns the table's entries, longest prefix first. The slice must
// not be modified.
func (t *Table) Entries() []Entry { return t.entries }

// HasPrefix reports whether the canonical path starts with the canonical
// prefix on a path-segment boundary.
func HasPrefix(path []byte, prefix string) bool {
	if len(path) < len(prefix) || string(path[:len(prefix)]) != prefix {
		return false
	}
	return len(path) == len(prefix) || prefix == "/" || path[len(prefix)] == '/'
}

// TrimPrefix removes the canonical prefix from path for strip_prefix routes,
// keeping the leading slash of what remains: TrimPrefix("/api/users/7",
// "/api/users") is "/7"; when nothing remains the result is "/". path must
// satisfy HasPrefix(path, prefix). It does not allocate.
func TrimPrefix(path []byte, prefix string) []byte {
	switch {
	case prefix == "/":
		return path
	case len(path) == len(prefix):
		return path[:1] // nothing remains: "/"
	}
	return path[len(prefix):]
}
