// Package keylock serialises work per key (an entity id, an e-mail
// address) within one process.
//
// Services use it because FerretDB v1 (the embedded and test server)
// applies an update by reading the matching document, changing it in Go and
// writing it back by _id, without checking the filter again: concurrent
// $inc or compare-and-set updates of one document lose writes there. On
// MongoDB the conditional updates are atomic by themselves; the lock makes
// them hold on FerretDB too, for the requests one process serves.
package keylock

import "sync"

// Map holds one lock per key, created on demand and dropped when unused.
// The zero value is ready to use.
type Map struct {
	mu    sync.Mutex
	locks map[string]*entry
}

type entry struct {
	mu   sync.Mutex
	refs int
}

// Lock locks key and returns its unlock function.
func (m *Map) Lock(key string) (unlock func()) {
	m.mu.Lock()
	if m.locks == nil {
		m.locks = map[string]*entry{}
	}
	e := m.locks[key]
	if e == nil {
		e = &entry{}
		m.locks[key] = e
	}
	e.refs++
	m.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		m.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(m.locks, key)
		}
		m.mu.Unlock()
	}
}

// Len reports how many keys are locked or waited for.
func (m *Map) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.locks)
}
