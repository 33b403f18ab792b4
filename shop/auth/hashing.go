package auth

import (
	"context"
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"github.com/shopbus/shopbus/transport"
)

// bcryptFuncs are the bcrypt operations a Server runs; tests in this
// package replace them to count or slow down the work.
type bcryptFuncs struct {
	generate func(password []byte, cost int) ([]byte, error)
	compare  func(hash, password []byte) error
}

var realBcrypt = bcryptFuncs{generate: bcrypt.GenerateFromPassword, compare: bcrypt.CompareHashAndPassword}

// acquireHashSlot waits for one of the Options.MaxConcurrentHashes slots
// for bcrypt work and returns its release function. If ctx ends first it
// returns a deadline_exceeded (or, cancelled, unavailable) error.
func (s *Server) acquireHashSlot(ctx context.Context) (release func(), err error) {
	select {
	case s.hashSlots <- struct{}{}:
		return func() { <-s.hashSlots }, nil
	default:
	}
	select {
	case s.hashSlots <- struct{}{}:
		return func() { <-s.hashSlots }, nil
	case <-ctx.Done():
		e := transport.ContextError(ctx)
		e.Message = "auth: too busy to check passwords: " + e.Message
		return nil, e
	}
}

// hash returns the bcrypt hash of password, computed in a hash slot.
func (s *Server) hash(ctx context.Context, password string) (string, error) {
	release, err := s.acquireHashSlot(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	h, err := s.bcrypt.generate(prehash(password), s.opts.BcryptCost)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return string(h), nil
}

// verify reports whether password matches hash, compared in a hash slot.
func (s *Server) verify(ctx context.Context, hash []byte, password string) (bool, error) {
	release, err := s.acquireHashSlot(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	return s.bcrypt.compare(hash, prehash(password)) == nil, nil
}
