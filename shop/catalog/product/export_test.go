package product

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// InsertImages stores n images of data (as if put, each variant holding
// data) straight into s's collection, for benchmarks that need many
// stored images quickly, and returns their names of variant.
func InsertImages(ctx context.Context, s *Server, n int, data []byte, variant string) ([]string, error) {
	etag := sha256.Sum256(data)
	names := make([]string, 0, n)
	var batch []any
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := s.images.InsertMany(ctx, batch)
		batch = batch[:0]
		return err
	}
	for i := range n {
		sum := sha256.Sum256(fmt.Appendf(nil, "image %d", i))
		id := hex.EncodeToString(sum[:])
		for _, v := range imageVariants {
			batch = append(batch, imageDoc{ID: id + "-" + v.name, Type: TypeJPEG, Data: data, ETag: hex.EncodeToString(etag[:]),
				Width: v.side, Height: v.side, CreatedAt: time.Now()})
		}
		names = append(names, id+"-"+variant)
		if len(batch) >= 900 {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	return names, flush()
}
