package storefront

// ForgetSlugs makes s forget what kind of page every slug was, as after a
// restart: the next slug pages ask every service. For benchmarks.
func (s *Storefront) ForgetSlugs() {
	s.memo.mu.Lock()
	s.memo.kinds = nil
	s.memo.skus = nil
	s.memo.mu.Unlock()
}

// Services are the services a Storefront calls (see NewWithServices).
type Services = services

// NewWithServices is New with the services that sv gives called as Go
// values, in the caller's goroutine, with no bus and no encoding; the
// others through their clients on opts.Bus. For BenchmarkArchitectureCost.
func NewWithServices(opts Options, sv Services) (*Storefront, error) {
	return newStorefront(opts, sv)
}
