package filter

import (
	"math/bits"
	"slices"
)

// bitset is a set of product slots, one bit each. Words past the end of a
// shorter bitset count as zero.
type bitset []uint64

func wordsFor(n int) int { return (n + 63) >> 6 }

func (b bitset) has(i uint32) bool {
	w := int(i >> 6)
	return w < len(b) && b[w]&(1<<(i&63)) != 0
}

func (b *bitset) set(i uint32) {
	w := int(i >> 6)
	if w >= len(*b) {
		old := len(*b)
		*b = slices.Grow(*b, w+1-old)[:w+1]
		clear((*b)[old:])
	}
	(*b)[w] |= 1 << (i & 63)
}

func (b bitset) clear(i uint32) {
	if w := int(i >> 6); w < len(b) {
		b[w] &^= 1 << (i & 63)
	}
}

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// and keeps in b only the members of o.
func (b bitset) and(o bitset) {
	n := min(len(b), len(o))
	for i := range n {
		b[i] &= o[i]
	}
	clear(b[n:])
}

// or adds o's members that fit in b.
func (b bitset) or(o bitset) {
	n := min(len(b), len(o))
	for i := range n {
		b[i] |= o[i]
	}
}

// andCount counts the members of both a and b.
func andCount(a, b bitset) int {
	n := min(len(a), len(b))
	a, b = a[:n], b[:n]
	c := 0
	for i := range a {
		c += bits.OnesCount64(a[i] & b[i])
	}
	return c
}

// members appends b's members to dst, ascending.
func (b bitset) members(dst []uint32) []uint32 {
	for i, w := range b {
		for w != 0 {
			dst = append(dst, uint32(i<<6+bits.TrailingZeros64(w)))
			w &= w - 1
		}
	}
	return dst
}

// posting is the set of slots holding one attribute value, currency or
// category: a sorted array while it is small, a bitset once it is dense
// enough for the bitset to be smaller (so that a number attribute with a
// distinct value per product costs 4 bytes a product, not a bitset each).
type posting struct {
	arr  []uint32 // sorted; used while bits is nil
	bits bitset
	n    int
}

// arrayMax is the largest array a posting keeps for a universe of n slots:
// beyond it a bitset (n/8 bytes) is smaller.
func arrayMax(universe int) int { return max(64, universe/32) }

func (p *posting) add(i uint32, universe int) {
	if p.bits != nil {
		if !p.bits.has(i) {
			p.bits.set(i)
			p.n++
		}
		return
	}
	at, found := slices.BinarySearch(p.arr, i)
	if found {
		return
	}
	p.arr = slices.Insert(p.arr, at, i)
	p.n++
	if p.n > arrayMax(universe) {
		b := make(bitset, wordsFor(universe))
		for _, s := range p.arr {
			b.set(s)
		}
		p.bits, p.arr = b, nil
	}
}

func (p *posting) remove(i uint32) {
	if p.bits != nil {
		if p.bits.has(i) {
			p.bits.clear(i)
			p.n--
		}
		if p.n < arrayMax(len(p.bits)<<6)/4 {
			p.arr, p.bits = p.bits.members(make([]uint32, 0, p.n)), nil
		}
		return
	}
	if at, found := slices.BinarySearch(p.arr, i); found {
		p.arr = slices.Delete(p.arr, at, at+1)
		p.n--
	}
}

// andCount counts p's members that are in s.
func (p *posting) andCount(s bitset) int {
	if p.bits != nil {
		return andCount(p.bits, s)
	}
	c := 0
	for _, i := range p.arr {
		if s.has(i) {
			c++
		}
	}
	return c
}

// orInto adds p's members to dst.
func (p *posting) orInto(dst bitset) {
	if p.bits != nil {
		dst.or(p.bits)
		return
	}
	for _, i := range p.arr {
		if w := int(i >> 6); w < len(dst) {
			dst[w] |= 1 << (i & 63)
		}
	}
}

// cost estimates the work of andCount.
func (p *posting) cost(words int) int {
	if p.bits != nil {
		return words
	}
	return p.n
}
