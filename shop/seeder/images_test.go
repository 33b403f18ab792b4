package seeder_test

import (
	"bytes"
	"context"
	"image/jpeg"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/shop/seeder"
)

// TestProductImages: pictures are drawn locally, the same for the same
// seed and product, different between products, and small JPEGs.
func TestProductImages(t *testing.T) {
	ds := mustDataset(t, 5, 20)
	a, b := ds.ProductImage(3), ds.ProductImage(3)
	if !bytes.Equal(a, b) {
		t.Fatal("product 3's picture differs between two draws")
	}
	if bytes.Equal(a, ds.ProductImage(4)) || bytes.Equal(a, mustDataset(t, 6, 20).ProductImage(3)) {
		t.Error("two products share a picture")
	}
	// Designs repeat every ImageDesigns products; within them, each
	// product of the sample shop looks different.
	if !bytes.Equal(a, ds.ProductImage(3+seeder.ImageDesigns)) || seeder.ImageDesign(3+seeder.ImageDesigns) != 3 {
		t.Error("product 3+ImageDesigns does not show design 3")
	}
	seen := map[string]int{}
	for i := range seeder.ImageDesigns {
		if j, dup := seen[string(ds.ProductImage(i))]; dup {
			t.Fatalf("designs %d and %d are the same picture", j, i)
		}
		seen[string(ds.ProductImage(i))] = i
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(a))
	if err != nil || cfg.Width != seeder.ImageSide || cfg.Height != seeder.ImageSide || len(a) > product.MaxImageBytes {
		t.Fatalf("picture: %+v, %d bytes, %v", cfg, len(a), err)
	}
	for i := range ds.Products {
		if imgs := ds.Product(i).Request.Images; len(imgs) != 0 {
			t.Fatalf("product %d has images in the dataset: %v", i, imgs)
		}
	}
}

// TestRunStoresPictures: a run puts each product's picture with the
// product service and refers to it (no external URL); articles show the
// picture of the product they link to. With NoImages nothing is put.
func TestRunStoresPictures(t *testing.T) {
	bus := bustest.New(t, "inproc")
	s := startShop(t, bus)
	srv, _ := serveSeeder(t, s, seeder.Options{})
	ctx, cancel := context.WithTimeout(s.admin, 2*time.Minute)
	defer cancel()
	const n = 4
	if _, err := srv.Seed(ctx, seeder.RunRequest{Seed: 11, Products: n}); err != nil {
		t.Fatal(err)
	}
	ds := mustDataset(t, 11, n)
	for i := range n {
		p, err := s.products.GetBySlug(ctx, product.GetBySlugRequest{Slug: ds.Product(i).Request.Slug})
		if err != nil {
			t.Fatal(err)
		}
		want := ds.ProductImagePath(i)
		if len(p.Images) != 1 || p.Images[0] != want {
			t.Fatalf("product %d images %v, want [%s]", i, p.Images, want)
		}
		name, _, _ := product.ParseImagePath(product.ImageVariantPath(want, product.VariantCard))
		img, err := s.products.Image(ctx, product.ImageRequest{Name: name})
		if err != nil || img.Type != product.TypeJPEG || img.Width != product.CardSide {
			t.Fatalf("card of product %d: %+v, %v", i, img.Width, err)
		}
	}
	page, err := s.articles.List(ctx, article.ListRequest{Status: "any", Limit: article.MaxLimit})
	if err != nil || len(page.Articles) == 0 {
		t.Fatalf("articles: %v", err)
	}
	for _, a := range page.Articles {
		if _, _, ok := product.ParseImagePath(a.CoverImage); !ok {
			t.Errorf("article %s has cover %q", a.Slug, a.CoverImage)
		}
	}

	// Without pictures.
	s2 := startShop(t, bustest.New(t, "inproc"))
	srv2, _ := serveSeeder(t, s2, seeder.Options{NoImages: true})
	if _, err := srv2.Seed(ctx, seeder.RunRequest{Seed: 11, Products: 2}); err != nil {
		t.Fatal(err)
	}
	p, err := s2.products.GetBySlug(ctx, product.GetBySlugRequest{Slug: ds.Product(0).Request.Slug})
	if err != nil || len(p.Images) != 0 {
		t.Fatalf("NoImages: images %v (%v)", p.Images, err)
	}
}

// BenchmarkRunImageCost measures what the pictures cost a run, in one
// shop on the in-process bus: each iteration seeds 200 new products with
// pictures and 200 without (Options.NoImages), alternating which goes
// first, and reports products/s of both and their ratio (x-without-images,
// below 1 when pictures slow the run down).
func BenchmarkRunImageCost(b *testing.B) {
	const n = 200
	bus := bustest.New(b, "inproc")
	s := startShop(b, bus)
	with, err := seeder.New(nil, seeder.Options{Bus: bus, Concurrency: 4, Logger: quiet,
		AdminEmail: shoptest.AdminEmail, AdminPassword: shoptest.AdminPassword})
	if err != nil {
		b.Fatal(err)
	}
	without, err := seeder.New(nil, seeder.Options{Bus: bus, Concurrency: 4, Logger: quiet, NoImages: true,
		AdminEmail: shoptest.AdminEmail, AdminPassword: shoptest.AdminPassword})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(s.admin, time.Hour)
	defer cancel()
	var withTime, withoutTime time.Duration
	seed := func(srv *seeder.Server, seedValue int64, total *time.Duration) {
		start := time.Now()
		if _, err := srv.Seed(ctx, seeder.RunRequest{Seed: seedValue, Products: n}); err != nil {
			b.Fatal(err)
		}
		*total += time.Since(start)
	}
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			seed(with, int64(1000+2*i), &withTime)
			seed(without, int64(1000+2*i+1), &withoutTime)
		} else {
			seed(without, int64(1000+2*i+1), &withoutTime)
			seed(with, int64(1000+2*i), &withTime)
		}
	}
	b.ReportMetric(float64(b.N*n)/withTime.Seconds(), "products/s")
	b.ReportMetric(float64(b.N*n)/withoutTime.Seconds(), "products/s-without-images")
	b.ReportMetric(withoutTime.Seconds()/withTime.Seconds(), "x-without-images")
}
