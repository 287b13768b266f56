package index

import (
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
)

// cache holds dictionary ids that are committed. Dictionary rows are never
// deleted or changed, so an id, once committed, keeps its meaning; a write
// transaction keeps the ids it creates apart (in a writer) and merges them
// only after it commits, since a rolled-back id may be reused.
type cache struct {
	mu     sync.Mutex
	names  map[nameKey]int64 // guarded by mu
	byID   map[int64]string  // guarded by mu: names by id
	terms  *lru.Cache[termID, int64]
	prins  *lru.Cache[string, int64]     // principal terms column -> id
	idents *lru.Cache[int64, *principal] // id -> decoded principal
}

type nameKey struct {
	ns   int
	name string
}

type termID struct {
	attr  int64
	value string
}

// principal is a decoded principal: a signer's terms.
type principal struct {
	subjects []string
	issuer   string
	exts     map[string]string
}

// Cache sizes: enough for every repeated value of a large private log;
// unique values (per-run URIs) cycle through.
const (
	termCacheSize      = 1 << 16
	principalCacheSize = 1 << 15
)

func newCache() *cache {
	terms, _ := lru.New[termID, int64](termCacheSize)
	prins, _ := lru.New[string, int64](principalCacheSize)
	idents, _ := lru.New[int64, *principal](principalCacheSize)
	return &cache{
		names:  map[nameKey]int64{},
		byID:   map[int64]string{},
		terms:  terms,
		prins:  prins,
		idents: idents,
	}
}

func (c *cache) name(ns int, name string) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.names[nameKey{ns, name}]
	return id, ok
}

func (c *cache) nameOf(id int64) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.byID[id]
	return s, ok
}

func (c *cache) putName(ns int, name string, id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.names[nameKey{ns, name}] = id
	c.byID[id] = name
}
