package rabbit

import (
	"crypto/rand"
	"encoding/binary"
	"sync/atomic"

	"github.com/google/uuid"
)

// idSource hands out correlation ids: UUIDs in the version 4 layout made of
// 64 random bits drawn once per bus and a 64-bit counter. They are unique
// for the life of the bus without reading the system's random source on
// every call (a measurable cost at tens of thousands of calls a second);
// correlation ids need uniqueness, not secrecy.
type idSource struct {
	prefix  [8]byte
	counter atomic.Uint64
}

func newIDSource() *idSource {
	s := new(idSource)
	rand.Read(s.prefix[:])
	var start [8]byte
	rand.Read(start[:])
	s.counter.Store(binary.BigEndian.Uint64(start[:]))
	return s
}

func (s *idSource) next() string {
	var u uuid.UUID
	copy(u[:8], s.prefix[:])
	binary.BigEndian.PutUint64(u[8:], s.counter.Add(1))
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u.String()
}
