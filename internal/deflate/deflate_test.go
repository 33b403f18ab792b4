package deflate

import (
	"bytes"
	"errors"
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
