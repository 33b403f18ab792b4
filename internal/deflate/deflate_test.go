package deflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"sync"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	in := bytes.Repeat([]byte(`{"id":"a","title":"Compact Bamboo Chair"},`), 500)
	z, err := Compress(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(z) >= len(in)/5 {
		t.Errorf("compressed %d bytes to %d, want a fifth or less", len(in), len(z))
	}
	out, err := Decompress(z, len(in))
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("round trip: %v, equal %v", err, bytes.Equal(out, in))
	}
}

func TestDecompressBounded(t *testing.T) {
	z, err := Compress(make([]byte, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decompress(z, 1<<20-1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("inflating past the limit: %v, want ErrTooLarge", err)
	}
	if _, err := Decompress([]byte("not deflate at all"), 100); err == nil {
		t.Fatal("garbage decompressed without error")
	}
}

// TestCompressConcurrently: reused writers never mix blobs.
func TestCompressConcurrently(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			in := bytes.Repeat([]byte{byte('a' + i)}, 10000+i)
			for range 50 {
				z, err := Compress(in)
				if err != nil {
					t.Error(err)
					return
				}
				if out, err := Decompress(z, len(in)); err != nil || !bytes.Equal(out, in) {
					t.Errorf("writer %d: round trip failed: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkCompress compares Compress with its pooled writers against a
// new writer per blob (what it did before).
func BenchmarkCompress(b *testing.B) {
	in := bytes.Repeat([]byte(`{"id":"a","title":"Compact Bamboo Chair","price":9599},`), 2000)
	b.Run("pooled", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			if _, err := Compress(in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new-writer", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			var buf bytes.Buffer
			w, _ := flate.NewWriter(&buf, flate.BestSpeed)
			_, _ = w.Write(in)
			_ = w.Close()
		}
	})
}
