package product_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/testenv"
	ct "github.com/shopbus/shopbus/shop/catalog/internal/catalogtest"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport"
)

// gradient is an opaque w×h picture.
func gradient(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	return img
}

// jpegWithExif encodes img as a JPEG carrying an APP1 Exif segment (with
// a made-up camera and GPS position) right after its SOI marker.
func jpegWithExif(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	payload := append([]byte("Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08"), []byte("SECRET-CAMERA GPS 48.8584N 2.2945E")...)
	seg := []byte{0xff, 0xe1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	out := append([]byte{}, buf.Bytes()[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, buf.Bytes()[2:]...)
}

// translucentPNG is a w×h PNG with transparent pixels.
func translucentPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{200, uint8(x), uint8(y), uint8(x * 255 / w)})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// variantSize returns the width and height of the variant called name in img.
func variantSize(t *testing.T, img product.Image, name string) (int, int) {
	t.Helper()
	for _, v := range img.Variants {
		if v.Variant == name {
			return v.Width, v.Height
		}
	}
	t.Fatalf("image %s has no variant %s: %+v", img.ID, name, img.Variants)
	return 0, 0
}

// TestPutImage puts a JPEG (with EXIF), a PNG with transparency and a
// WebP, on both buses, and reads their variants back.
func TestPutImage(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		w := setup(t, bus)
		ps := w.Products
		ctx := w.Admin

		// A JPEG larger than the full size, with EXIF.
		src := jpegWithExif(t, gradient(2000, 1000))
		jp := ct.Must(ps.PutImage(ctx, product.PutImageRequest{Data: src}))(t)
		sum := sha256.Sum256(src)
		if jp.ID != hex.EncodeToString(sum[:]) || jp.Type != product.TypeJPEG || jp.Path != "/media/"+jp.ID+"-full.jpg" || len(jp.Variants) != 3 {
			t.Fatalf("put JPEG: %+v", jp)
		}
		for name, want := range map[string][2]int{"full": {1600, 800}, "card": {480, 240}, "thumb": {160, 80}} {
			if w, h := variantSize(t, jp, name); w != want[0] || h != want[1] {
				t.Errorf("JPEG %s is %d×%d, want %v", name, w, h, want)
			}
		}
		for _, v := range jp.Variants {
			got := ct.Must(ps.Image(context.Background(), product.ImageRequest{Name: v.Name}))(t)
			tag := sha256.Sum256(got.Data)
			if got.Type != product.TypeJPEG || got.ETag != hex.EncodeToString(tag[:]) || len(got.Data) != v.Bytes || got.Width != v.Width {
				t.Errorf("read %s: type %s etag %s, %d bytes", v.Name, got.Type, got.ETag, len(got.Data))
			}
			if product.SniffImage(got.Data) != product.TypeJPEG {
				t.Errorf("%s is not a JPEG", v.Name)
			}
			if bytes.Contains(got.Data, []byte("Exif")) || bytes.Contains(got.Data, []byte("SECRET-CAMERA")) {
				t.Errorf("%s kept the EXIF data", v.Name)
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(got.Data))
			if err != nil || cfg.Width != v.Width || cfg.Height != v.Height {
				t.Errorf("%s decodes as %+v, %v", v.Name, cfg, err)
			}
		}
		// The same bytes again: the same image, nothing more stored.
		again := ct.Must(ps.PutImage(ctx, product.PutImageRequest{Data: src}))(t)
		if again.ID != jp.ID || again.Path != jp.Path || len(again.Variants) != 3 {
			t.Fatalf("put again: %+v", again)
		}
		if n, err := w.ProductDB.Collection("images").CountDocuments(ctx, bson.D{}); err != nil || n != 3 {
			t.Fatalf("images hold %d documents (%v), want 3", n, err)
		}

		// A PNG with transparency stays a PNG; a small one is not enlarged.
		pn := ct.Must(ps.PutImage(ctx, product.PutImageRequest{Data: translucentPNG(t, 300, 200)}))(t)
		if pn.Type != product.TypePNG || !strings.HasSuffix(pn.Path, "-full.png") {
			t.Fatalf("put PNG: %+v", pn)
		}
		if w, h := variantSize(t, pn, "full"); w != 300 || h != 200 {
			t.Errorf("PNG full is %d×%d, want 300×200", w, h)
		}
		if w, h := variantSize(t, pn, "thumb"); w != 160 || h != 107 {
			t.Errorf("PNG thumb is %d×%d, want 160×107", w, h)
		}
		card := ct.Must(ps.Image(ctx, product.ImageRequest{Name: pn.ID + "-card"}))(t)
		if decoded, err := png.Decode(bytes.NewReader(card.Data)); err != nil || decoded.(interface{ Opaque() bool }).Opaque() {
			t.Errorf("PNG card lost its transparency (%v)", err)
		}

		// WebP, lossy (opaque: JPEG) and lossless with alpha (PNG).
		wp := ct.Must(ps.PutImage(ctx, product.PutImageRequest{Data: readFile(t, "testdata/blue-purple-pink.lossy.webp")}))(t)
		if wp.Type != product.TypeJPEG {
			t.Errorf("lossy WebP stored as %s", wp.Type)
		}
		wa := ct.Must(ps.PutImage(ctx, product.PutImageRequest{Data: readFile(t, "testdata/gopher-doc.with-alpha.lossless.webp")}))(t)
		if wa.Type != product.TypePNG {
			t.Errorf("WebP with alpha stored as %s", wa.Type)
		}

		// A product refers to stored images by their path, beside URLs.
		req := product.CreateRequest{Title: "Pictured", Price: eur(100), Images: []string{jp.Path, "https://cdn.example.com/x.jpg", pn.Path}}
		p := ct.Must(ps.Create(ctx, req))(t)
		if len(p.Images) != 3 || p.Images[0] != jp.Path {
			t.Fatalf("created with images %v", p.Images)
		}
		if got := product.ImageVariantPath(p.Images[0], product.VariantCard); got != "/media/"+jp.ID+"-card.jpg" {
			t.Errorf("card path %q", got)
		}
		if got := product.ImageVariantPath(p.Images[1], product.VariantCard); got != p.Images[1] {
			t.Errorf("an external URL's card path is %q", got)
		}
		missing := "/media/" + strings.Repeat("ab", 32) + "-full.jpg"
		_, err := ps.Create(ctx, product.CreateRequest{Title: "Ghost", Price: eur(100), Images: []string{missing}})
		if msg := ct.WantField(t, err, "images[0]"); !strings.Contains(msg, "no stored image") {
			t.Errorf("unknown stored image: %q", msg)
		}
		wrongExt := strings.TrimSuffix(jp.Path, ".jpg") + ".png"
		_, err = ps.Update(ctx, product.UpdateRequest{ID: p.ID, Images: &[]string{jp.Path, wrongExt}})
		ct.WantField(t, err, "images[1]")
		for _, bad := range []string{"/media/x-full.jpg", "/media/" + jp.ID + "-huge.jpg", "/etc/passwd", "/media/" + jp.ID + "-full.gif"} {
			_, err = ps.Update(ctx, product.UpdateRequest{ID: p.ID, Images: &[]string{bad}})
			ct.WantField(t, err, "images[0]")
		}
		reordered := []string{pn.Path, jp.Path}
		if p = ct.Must(ps.Update(ctx, product.UpdateRequest{ID: p.ID, Images: &reordered}))(t); p.Images[0] != pn.Path {
			t.Errorf("reordered images %v", p.Images)
		}

		// Customers cannot put images.
		_, err = ps.PutImage(w.Customer, product.PutImageRequest{Data: src})
		ct.WantCode(t, err, transport.CodeForbidden)
		_, err = ps.PutImage(context.Background(), product.PutImageRequest{Data: src})
		ct.WantCode(t, err, transport.CodeUnauthenticated)
	})
}

// TestPutImageRefuses sends bodies that are no acceptable image straight
// over the bus, as any AMQP client could: each is invalid with a field
// error on data, and nothing is stored.
func TestPutImageRefuses(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		w := setup(t, bus)
		ctx, cancel := context.WithTimeout(w.Admin, time.Minute)
		defer cancel()
		good := jpegWithExif(t, gradient(64, 64))
		wide := func() []byte {
			var buf bytes.Buffer
			_ = png.Encode(&buf, image.NewGray(image.Rect(0, 0, product.MaxImageSide+1, 1)))
			return buf.Bytes()
		}()
		big := make([]byte, product.MaxImageBytes+1)
		copy(big, good)
		cases := map[string]struct {
			body []byte
			want string
		}{
			"text":      {[]byte("hello, I am not a picture"), "must be a JPEG, PNG or WebP image"},
			"gif":       {[]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), "must be a JPEG, PNG or WebP image"},
			"svg":       {[]byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), "must be a JPEG, PNG or WebP image"},
			"empty":     {nil, "is required"},
			"truncated": {good[:40], "cannot be read as a JPEG image"},
			"damaged":   {append(append([]byte{}, good[:len(good)/2]...), make([]byte, 100)...), "cannot be read as a JPEG image"},
			"too wide":  {wide, "pixels a side"},
			"too big":   {big, "at most 700 KB"},
			"riff":      {[]byte("RIFF\x10\x00\x00\x00WEBPVP8 junkjunk"), "cannot be read as a WebP image"},
		}
		for name, c := range cases {
			body, _ := json.Marshal(product.PutImageRequest{Data: c.body})
			_, err := bus.Call(ctx, product.MethodPutImage, body)
			if msg := ct.WantField(t, err, "data"); !strings.Contains(msg, c.want) {
				t.Errorf("%s: message %q, want it to say %q", name, msg, c.want)
			}
		}
		// A body that is not even JSON of the request.
		_, err := bus.Call(ctx, product.MethodPutImage, []byte(`{"data": 12}`))
		ct.WantCode(t, err, transport.CodeInvalid)
		if n, err := w.ProductDB.Collection("images").CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
			t.Fatalf("images hold %d documents (%v), want none", n, err)
		}
		// Reads by a malformed or unknown name.
		for _, name := range []string{"", "x", "../etc/passwd", strings.Repeat("a", 64), strings.Repeat("a", 64) + "-huge", strings.Repeat("A", 64) + "-full"} {
			_, err := w.Products.Image(ctx, product.ImageRequest{Name: name})
			ct.WantCode(t, err, transport.CodeInvalid)
		}
		_, err = w.Products.Image(ctx, product.ImageRequest{Name: strings.Repeat("a", 64) + "-full"})
		ct.WantCode(t, err, transport.CodeNotFound)
	})
}

// TestDecodeImageLimits checks the limits a caller such as the
// storefront sets.
func TestDecodeImageLimits(t *testing.T) {
	src := jpegWithExif(t, gradient(400, 300))
	if _, typ, err := product.DecodeImage(src, product.ImageLimits{MaxBytes: 1 << 20, MaxSide: 400, MaxPixels: 400 * 300}, "image"); err != nil || typ != product.TypeJPEG {
		t.Fatalf("within the limits: %v, %s", err, typ)
	}
	_, _, err := product.DecodeImage(src, product.ImageLimits{MaxBytes: int64(len(src) - 1)}, "image")
	ct.WantField(t, err, "image")
	_, _, err = product.DecodeImage(src, product.ImageLimits{MaxPixels: 400*300 - 1}, "image")
	if msg := ct.WantField(t, err, "image"); !strings.Contains(msg, "400×300") {
		t.Errorf("pixels: %q", msg)
	}
	img, _, _ := product.DecodeImage(src, product.ImageLimits{}, "image")
	enc, err := product.EncodeImage(img, 100, 1<<20)
	if err != nil || enc.Width != 100 || enc.Height != 75 || enc.Type != product.TypeJPEG || bytes.Contains(enc.Data, []byte("Exif")) {
		t.Fatalf("encode: %dx%d %s (%v)", enc.Width, enc.Height, enc.Type, err)
	}
	// Too large for the budget: smaller until it fits.
	noisy := image.NewRGBA(image.Rect(0, 0, 800, 800))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noisy.Pix {
		noisy.Pix[i] = uint8(rng.IntN(256))
		if i%4 == 3 {
			noisy.Pix[i] = 255
		}
	}
	enc, err = product.EncodeImage(noisy, 800, 100<<10)
	if err != nil || len(enc.Data) > 100<<10 || enc.Width > 800 {
		t.Fatalf("fit in 100 KB: %d bytes, %dx%d (%v)", len(enc.Data), enc.Width, enc.Height, err)
	}
}

// BenchmarkImageRead reads one variant of a stored image by name
// (product.image on the Server, as the bus handler calls it) from a store
// of 100 images and from one of 10,000 (30,000 variant documents),
// alternately, against the test MongoDB server (the embedded FerretDB
// unless SHOP_MONGO_URI is set). It reports the mean time of a read from
// each and their ratio (x-10000/100): reads are lookups by _id, so the
// ratio should be about 1.
func BenchmarkImageRead(b *testing.B) {
	quiet := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, gradient(160, 160), &jpeg.Options{Quality: 85}); err != nil {
		b.Fatal(err)
	}
	type store struct {
		srv   *product.Server
		names []string
	}
	stores := map[int]store{}
	for _, n := range []int{100, 10_000} { // both filled before either is read
		db := testenv.MongoDB(b, fmt.Sprintf("bench_images_%d", n))
		srv, err := product.New(db, product.Options{Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		names, err := product.InsertImages(ctx, srv, n, buf.Bytes(), product.VariantCard)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("stored %d images (%d documents) in %v", n, 3*n, time.Since(start).Round(time.Millisecond))
		stores[n] = store{srv, names}
	}
	// Reads alternate between the two stores, so that both see the same
	// load on a shared machine.
	small, large := stores[100], stores[10_000]
	rng := rand.New(rand.NewPCG(1, 7))
	var tSmall, tLarge time.Duration
	read := func(st store) time.Duration {
		name := st.names[rng.IntN(len(st.names))]
		start := time.Now()
		img, err := st.srv.Image(ctx, product.ImageRequest{Name: name})
		if err != nil || len(img.Data) != buf.Len() {
			b.Fatalf("read %s: %v", name, err)
		}
		return time.Since(start)
	}
	for b.Loop() {
		tSmall += read(small)
		tLarge += read(large)
	}
	b.ReportMetric(float64(tSmall.Nanoseconds())/float64(b.N), "ns/read-stored=100")
	b.ReportMetric(float64(tLarge.Nanoseconds())/float64(b.N), "ns/read-stored=10000")
	b.ReportMetric(float64(tLarge)/float64(tSmall), "x-10000/100")
}

// jpegOriented is a 200×100 JPEG, red on its left half and blue on its
// right, with an EXIF orientation tag in byte order "II" or "MM".
func jpegOriented(t *testing.T, orientation int, order string) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 200, 100))
	for y := range 100 {
		for x := range 200 {
			c := color.RGBA{220, 20, 20, 255}
			if x >= 100 {
				c = color.RGBA{20, 20, 220, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	u16 := func(v int) []byte {
		if order == "II" {
			return []byte{byte(v), byte(v >> 8)}
		}
		return []byte{byte(v >> 8), byte(v)}
	}
	u32 := func(v int) []byte {
		if order == "II" {
			return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
		}
		return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	}
	tiff := append([]byte(order), u16(42)...)
	tiff = append(tiff, u32(8)...)
	tiff = append(tiff, u16(2)...)                                                                          // two entries
	tiff = append(append(append(append(tiff, u16(0x010f)...), u16(2)...), u32(4)...), []byte("Cam\x00")...) // Make
	tiff = append(append(append(append(tiff, u16(0x0112)...), u16(3)...), u32(1)...), append(u16(orientation), 0, 0)...)
	tiff = append(tiff, u32(0)...)
	payload := append([]byte("Exif\x00\x00"), tiff...)
	out := append([]byte{}, buf.Bytes()[:2]...)
	out = append(out, 0xff, 0xe1, byte((len(payload)+2)>>8), byte(len(payload)+2))
	out = append(out, payload...)
	return append(out, buf.Bytes()[2:]...)
}

// TestDecodeImageOrientation: a JPEG's EXIF orientation is applied before
// the EXIF data is dropped, so the stored picture stands upright.
func TestDecodeImageOrientation(t *testing.T) {
	red := func(c color.Color) bool { r, _, b, _ := c.RGBA(); return r > b }
	for _, order := range []string{"II", "MM"} {
		for _, c := range []struct {
			o             int
			w, h          int
			redAt, blueAt image.Point
		}{
			{1, 200, 100, image.Pt(20, 50), image.Pt(180, 50)},
			{3, 200, 100, image.Pt(180, 50), image.Pt(20, 50)},
			{6, 100, 200, image.Pt(50, 20), image.Pt(50, 180)},
			{8, 100, 200, image.Pt(50, 180), image.Pt(50, 20)},
			{2, 200, 100, image.Pt(180, 50), image.Pt(20, 50)},
		} {
			img, _, err := product.DecodeImage(jpegOriented(t, c.o, order), product.ServiceLimits, "data")
			if err != nil {
				t.Fatal(err)
			}
			b := img.Bounds()
			if b.Dx() != c.w || b.Dy() != c.h || !red(img.At(c.redAt.X, c.redAt.Y)) || red(img.At(c.blueAt.X, c.blueAt.Y)) {
				t.Errorf("%s orientation %d: %v, red at %v: %v", order, c.o, b, c.redAt, red(img.At(c.redAt.X, c.redAt.Y)))
			}
		}
	}
}

// FuzzDecodeImage: whatever the bytes, DecodeImage returns an image or an
// invalid error on its field, never a panic.
func FuzzDecodeImage(f *testing.F) {
	f.Add(readFile(f, "testdata/blue-purple-pink.lossy.webp"))
	f.Add(readFile(f, "testdata/gopher-doc.with-alpha.lossless.webp"))
	f.Add(jpegWithExif(f, gradient(16, 16)))
	f.Add(translucentPNG(f, 8, 8))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8 "))
	f.Add([]byte("\xff\xd8\xff\xe1\x00\x10Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08"))
	lim := product.ImageLimits{MaxBytes: 1 << 20, MaxSide: 512, MaxPixels: 512 * 512}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, _, err := product.DecodeImage(data, lim, "data")
		if err != nil {
			if transport.CodeOf(err) != transport.CodeInvalid {
				t.Fatalf("error %v is not invalid", err)
			}
			return
		}
		if b := img.Bounds(); b.Dx() > 512 || b.Dy() > 512 {
			t.Fatalf("decoded %v beyond the limits", b)
		}
	})
}

// TestPutImageAfterPartialPut: a put that stored some variants and
// stopped (a crash) is not an image yet; putting the bytes again stores
// what is missing and keeps the rest.
func TestPutImageAfterPartialPut(t *testing.T) {
	w := setup(t, bustest.New(t, "inproc"))
	data := jpegWithExif(t, gradient(900, 600))
	first := ct.Must(w.Products.PutImage(w.Admin, product.PutImageRequest{Data: data}))(t)
	images := w.ProductDB.Collection("images")
	if _, err := images.DeleteOne(w.Admin, bson.D{{Key: "_id", Value: first.ID + "-card"}}); err != nil {
		t.Fatal(err)
	}
	_, err := w.Products.Image(w.Admin, product.ImageRequest{Name: first.ID + "-card"})
	ct.WantCode(t, err, transport.CodeNotFound)
	again := ct.Must(w.Products.PutImage(w.Admin, product.PutImageRequest{Data: data}))(t)
	if again.ID != first.ID || len(again.Variants) != 3 {
		t.Fatalf("put again: %+v", again)
	}
	if n, err := images.CountDocuments(w.Admin, bson.D{}); err != nil || n != 3 {
		t.Fatalf("images hold %d documents (%v), want 3", n, err)
	}
	ct.Must(w.Products.Image(w.Admin, product.ImageRequest{Name: first.ID + "-card"}))(t)
}
