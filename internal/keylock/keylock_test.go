package keylock_test

import (
	"runtime"
	"sync"
	"testing"

	"github.com/shopbus/shopbus/internal/keylock"
)

func TestLockSerialisesPerKey(t *testing.T) {
	var m keylock.Map
	var wg sync.WaitGroup
	var counter [2]int
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer m.Lock([]string{"a", "b"}[i%2])()
			n := counter[i%2] // a lost update without the lock (and a race -race reports)
			runtime.Gosched()
			counter[i%2] = n + 1
		}()
	}
	wg.Wait()
	if counter[0] != 50 || counter[1] != 50 {
		t.Fatalf("counter %v", counter)
	}
	if n := m.Len(); n != 0 {
		t.Fatalf("%d keys left after every unlock", n)
	}
}
