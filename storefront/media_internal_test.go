package storefront

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/product"
)

// TestMediaCache: the cache stays within its bytes, drops the least
// recently used first, keeps no image larger than a quarter of it, keeps
// no failure, and makes one fetch for concurrent misses of one name.
func TestMediaCache(t *testing.T) {
	c := newMediaCache(1000)
	var fetches atomic.Int32
	fetch := func(name string, size int) func(context.Context) (product.ImageData, error) {
		return func(context.Context) (product.ImageData, error) {
			fetches.Add(1)
			return product.ImageData{Name: name, Data: make([]byte, size)}, nil
		}
	}
	ctx := context.Background()
	for i := range 10 {
		name := "img" + strconv.Itoa(i)
		if _, err := c.get(ctx, name, fetch(name, 200)); err != nil {
			t.Fatal(err)
		}
		if c.size > c.max {
			t.Fatalf("after %d images the cache holds %d bytes", i+1, c.size)
		}
		if i >= 1 { // touch img0 and img1... keep img1 the most recent of the old ones
			_, _ = c.get(ctx, "img1", fetch("img1", 200))
		}
	}
	if _, ok := c.items["img1"]; !ok {
		t.Error("the most recently used image was dropped")
	}
	if _, ok := c.items["img0"]; ok {
		t.Error("the least recently used image was kept")
	}
	if _, err := c.get(ctx, "big", fetch("big", 300)); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.items["big"]; ok {
		t.Error("an image over a quarter of the cache was kept")
	}
	_, err := c.get(ctx, "gone", func(context.Context) (product.ImageData, error) { return product.ImageData{}, shop.NotFound("image") })
	if _, ok := c.items["gone"]; err == nil || ok {
		t.Errorf("a failure: %v, kept %v", err, ok)
	}

	// Concurrent misses of one name: one fetch.
	fetches.Store(0)
	release := make(chan struct{})
	slow := func(context.Context) (product.ImageData, error) {
		fetches.Add(1)
		<-release
		return product.ImageData{Name: "slow", Data: []byte("x")}, nil
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if img, err := c.get(ctx, "slow", slow); err != nil || string(img.Data) != "x" {
				t.Errorf("slow: %v", err)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches for concurrent misses, want 1", n)
	}
}
