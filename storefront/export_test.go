package storefront

// ForgetSlugs makes s forget what kind of page every slug was, as after a
// restart: the next slug pages ask every service. For benchmarks.
func (s *Storefront) ForgetSlugs() {
	s.memo.mu.Lock()
	s.memo.kinds = nil
	s.memo.skus = nil
	s.memo.mu.Unlock()
}
