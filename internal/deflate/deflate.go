// Package deflate compresses what services store as opaque blobs (remembered
// replies, batch events), fast rather than small: on the embedded store
// every byte of a document is converted on each write and read, so a blob
// a fifth the size costs a fifth as much to store and to read back.
package deflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"sync"
)

// writers keeps flate writers for reuse: a new one allocates and clears
// about a megabyte of tables, which cost more than compressing a 100 KB
// blob.
var writers sync.Pool

// Compress deflates b at flate.BestSpeed.
func Compress(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, _ := writers.Get().(*flate.Writer)
	if w == nil {
		var err error
		if w, err = flate.NewWriter(&buf, flate.BestSpeed); err != nil {
			return nil, err
		}
	} else {
		w.Reset(&buf)
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	writers.Put(w)
	return buf.Bytes(), nil
}

// Decompress inflates what Compress made. It reads at most limit bytes and
// fails, with an ErrTooLarge error, on more: a damaged or hostile blob
// cannot make it allocate without bound.
func Decompress(z []byte, limit int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(z)), int64(limit)+1))
	if err == nil && len(b) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return b, err
}

// ErrTooLarge is the cause of Decompress's failure on a blob that inflates
// beyond its limit.
var ErrTooLarge = errors.New("deflate: blob too large")
