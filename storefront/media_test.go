package storefront_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/storefront"
)

// picture is an opaque w×h gradient.
func picture(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), 90, uint8(y * 255 / h), 255})
		}
	}
	return img
}

// exifJPEG is img as a JPEG with an APP1 Exif segment naming a camera.
func exifJPEG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	payload := []byte("Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08PRIVATE-CAMERA-SERIAL-123")
	out := append([]byte{}, buf.Bytes()[:2]...)
	out = append(out, 0xff, 0xe1, byte((len(payload)+2)>>8), byte(len(payload)+2))
	out = append(out, payload...)
	return append(out, buf.Bytes()[2:]...)
}

func pngOf(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// upload posts file as the console's upload form does, with b's CSRF
// token unless withoutCSRF, and returns the status, Location and body.
func (b *browser) upload(path, filename string, file []byte, withoutCSRF bool) (int, string, string) {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if !withoutCSRF {
		if b.cookie(storefront.CSRFCookie) == nil {
			b.page("/")
		}
		_ = mw.WriteField(storefront.CSRFField, b.cookie(storefront.CSRFCookie).Value)
	}
	_ = mw.WriteField(storefront.IdempotencyField, "upload-"+filename)
	fw, _ := mw.CreateFormFile("image", filename)
	_, _ = fw.Write(file)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, data := b.doRequest(req)
	return resp.StatusCode, resp.Header.Get("Location"), string(data)
}

var imageErrorRE = regexp.MustCompile(`<p class="field-error image-error"[^>]*>([^<]*)</p>`)

// imageError is the message next to the images on a console page.
func imageError(page string) string {
	m := imageErrorRE.FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestAdminImages: an admin uploads a JPEG (with EXIF), a PNG and a WebP
// to a product, reorders and removes them; the shop serves the variants
// under /media with immutable caching, and its pages show them.
func TestAdminImages(t *testing.T) {
	f := newShop(t, storefront.Options{})
	b := adminBrowser(t, f)
	tmp := t.TempDir() // where uploads over MaxBodyBytes are spooled (set once the test store runs)
	t.Setenv("TMPDIR", tmp)
	p := f.products["red-runner"]
	edit := "/admin/products/" + p.ID
	webp, err := os.ReadFile("testdata/blue-purple-pink.lossy.webp")
	if err != nil {
		t.Fatal(err)
	}
	files := []struct {
		name string
		data []byte
	}{{"photo.jpg", exifJPEG(t, picture(2400, 1600))}, {"logo.png", pngOf(t, picture(300, 300))}, {"pink.webp", webp}}
	for _, file := range files {
		code, loc, body := b.upload(edit+"/images", file.name, file.data, false)
		if code != http.StatusSeeOther || loc != edit+"?done=image_added" {
			t.Fatalf("upload %s: %d %s %s", file.name, code, loc, imageError(body))
		}
	}
	p = getProduct(t, f, p.ID)
	if len(p.Images) != 3 {
		t.Fatalf("images %v", p.Images)
	}
	for i, want := range []string{".jpg", ".jpg", ".jpg"} { // opaque: all JPEG
		if _, _, ok := product.ParseImagePath(p.Images[i]); !ok || !strings.HasSuffix(p.Images[i], "-full"+want) {
			t.Errorf("image %d is %q", i, p.Images[i])
		}
	}
	// The same file again is the same image: not added twice.
	if code, _, _ := b.upload(edit+"/images", "again.jpg", files[0].data, false); code != http.StatusSeeOther {
		t.Fatalf("upload again: %d", code)
	}
	if got := getProduct(t, f, p.ID).Images; len(got) != 3 {
		t.Fatalf("after the same upload: %v", got)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("uploads left %d temporary files", len(left))
	}

	// Served: full and its variants, with the caching headers.
	full := p.Images[0]
	resp, data := b.do(http.MethodGet, full, nil)
	h := resp.Header
	if resp.StatusCode != http.StatusOK || h.Get("Content-Type") != "image/jpeg" || h.Get("Cache-Control") != storefront.MediaCacheControl ||
		h.Get("X-Content-Type-Options") != "nosniff" || !regexp.MustCompile(`^"[0-9a-f]{64}"$`).MatchString(h.Get("ETag")) {
		t.Fatalf("GET %s: %d %v", full, resp.StatusCode, h)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width != product.FullSide || cfg.Height != 1067 {
		t.Errorf("full variant %+v (%v)", cfg, err)
	}
	if bytes.Contains(data, []byte("Exif")) || bytes.Contains(data, []byte("PRIVATE-CAMERA")) {
		t.Error("the served image kept its EXIF data")
	}
	if h.Get("Set-Cookie") != "" {
		t.Errorf("an image answer sets cookies: %q", h.Get("Set-Cookie"))
	}
	etag := h.Get("ETag")
	resp, data = b.do(http.MethodGet, full, nil, "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified || len(data) != 0 || resp.Header.Get("ETag") != etag {
		t.Errorf("conditional GET: %d, %d bytes", resp.StatusCode, len(data))
	}
	resp, data = b.do(http.MethodHead, full, nil)
	if resp.StatusCode != http.StatusOK || len(data) != 0 || resp.Header.Get("Content-Length") == "" {
		t.Errorf("HEAD: %d %v", resp.StatusCode, resp.Header)
	}
	card := product.ImageVariantPath(full, product.VariantCard)
	resp, data = newBrowser(t, f.srv.URL).do(http.MethodGet, card, nil) // anyone
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(data)); resp.StatusCode != 200 || err != nil || cfg.Width != product.CardSide {
		t.Errorf("card: %d %+v %v", resp.StatusCode, cfg, err)
	}

	// The pages show them: the product page the full size, listings the card.
	_, page := b.page("/red-runner")
	if !strings.Contains(page, `<img class="hero" src="`+full+`"`) {
		t.Errorf("the product page does not show %s", full)
	}
	_, page = b.page("/" + f.cats["running"].Slug)
	if !strings.Contains(page, `src="`+card+`"`) {
		t.Errorf("the listing does not show %s", card)
	}
	_, page = b.page(edit)
	if !strings.Contains(page, product.ImageVariantPath(full, product.VariantThumb)) {
		t.Error("the console does not show the thumbnail")
	}

	// Reorder and remove.
	second := p.Images[1]
	if code, loc, _ := b.submit(edit, edit+"/images/move", url.Values{"image": {full}, "dir": {"down"}}, nil); code != http.StatusSeeOther || loc != edit+"?done=image_moved" {
		t.Fatalf("move down: %d %s", code, loc)
	}
	if got := getProduct(t, f, p.ID).Images; got[0] != second || got[1] != full {
		t.Fatalf("after moving down: %v", got)
	}
	if code, _, _ := b.submit(edit, edit+"/images/move", url.Values{"image": {full}, "dir": {"up"}}, nil); code != http.StatusSeeOther {
		t.Fatalf("move up: %d", code)
	}
	if code, loc, _ := b.submit(edit, edit+"/images/remove", url.Values{"image": {second}}, nil); code != http.StatusSeeOther || loc != edit+"?done=image_removed" {
		t.Fatalf("remove: %d %s", code, loc)
	}
	if got := getProduct(t, f, p.ID).Images; len(got) != 2 || got[0] != full || got[1] != p.Images[2] {
		t.Fatalf("after removing: %v", got)
	}
	// A stale page's action names an image the product no longer has.
	code, _, body := b.post(edit+"/images/remove", b.withToken(url.Values{"image": {second}}))
	if code != http.StatusConflict || !strings.Contains(imageError(body), "no longer") {
		t.Errorf("stale remove: %d %q", code, imageError(body))
	}
}

// TestAdminImageRefusals: a wrong type, an oversize file and too many
// pixels are refused with a clear message on the page; customers get 403
// and a form without the CSRF token changes nothing.
func TestAdminImageRefusals(t *testing.T) {
	f := newShop(t, storefront.Options{MaxImageUpload: 64 << 10, MaxImagePixels: 500 * 500})
	b := adminBrowser(t, f)
	p := f.products["blue-boot"]
	edit := "/admin/products/" + p.ID
	big := make([]byte, 70<<10)
	copy(big, exifJPEG(t, picture(10, 10)))
	cases := []struct {
		name   string
		data   []byte
		status int
		want   string
	}{
		{"notes.txt", []byte("just some text, not a picture"), http.StatusBadRequest, "must be a JPEG, PNG or WebP image"},
		{"fake.jpg", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), http.StatusBadRequest, "must be a JPEG, PNG or WebP image"},
		{"broken.jpg", exifJPEG(t, picture(50, 50))[:300], http.StatusBadRequest, "cannot be read as a JPEG image"},
		{"huge.jpg", big, http.StatusRequestEntityTooLarge, "images of at most 64 KB are accepted"},
		{"wide.png", pngOf(t, image.NewGray(image.Rect(0, 0, 1000, 300))), http.StatusBadRequest, "is 1000×300 pixels"},
	}
	for _, c := range cases {
		code, _, body := b.upload(edit+"/images", c.name, c.data, false)
		if msg := imageError(body); code != c.status || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %q, want %d and %q", c.name, code, msg, c.status, c.want)
		}
	}
	// Far over the limit: refused before the form is read.
	if code, _, _ := b.upload(edit+"/images", "enormous.jpg", make([]byte, 200<<10), false); code != http.StatusRequestEntityTooLarge {
		t.Errorf("enormous: %d", code)
	}
	// Without the CSRF token.
	small := exifJPEG(t, picture(40, 40))
	if code, _, _ := b.upload(edit+"/images", "a.jpg", small, true); code != http.StatusForbidden {
		t.Errorf("without CSRF: %d", code)
	}
	// A customer.
	c := customer(t, f, "shopper@front.test")
	c.page("/")
	if code, _, _ := c.upload(edit+"/images", "a.jpg", small, false); code != http.StatusForbidden {
		t.Errorf("customer upload: %d", code)
	}
	if code, _, _ := c.post(edit+"/images/remove", c.withToken(url.Values{"image": {"https://x.example/a.jpg"}})); code != http.StatusForbidden {
		t.Errorf("customer remove: %d", code)
	}
	// A guest is sent to log in.
	if code, loc, _ := newBrowser(t, f.srv.URL).upload(edit+"/images", "a.jpg", small, false); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Errorf("guest upload: %d %s", code, loc)
	}
	if got := getProduct(t, f, p.ID).Images; len(got) != 0 {
		t.Fatalf("refused uploads added images: %v", got)
	}
	// The last limit: the product's own.
	if _, err := product.NewClient(f.bus).PutImage(context.Background(), product.PutImageRequest{Data: small}); err == nil {
		t.Error("put_image without a token succeeded")
	}
}

// TestMediaNames: what /media does not serve is a 404, never a crash.
func TestMediaNames(t *testing.T) {
	f := newShop(t, storefront.Options{})
	b := f.browser(t)
	id := strings.Repeat("0f", 32)
	for _, path := range []string{
		"/media/x", "/media/" + id + "-full.jpg", "/media/" + id + "-full", "/media/" + id + "-huge.jpg",
		"/media/" + id + "-full.gif", "/media/" + strings.ToUpper(id) + "-full.jpg", "/media/..%2f..%2fetc%2fpasswd",
		"/media/" + id + "-full.jpg.jpg", "/media/%00", "/media/" + strings.Repeat("a", 5000),
	} {
		resp, _ := b.do(http.MethodGet, path, nil)
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: %d %q", path, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}
	// A stored image asked for with the wrong extension.
	stored, err := product.NewClient(f.bus).PutImage(f.admin, product.PutImageRequest{Data: pngOf(t, picture(20, 20))})
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := b.do(http.MethodGet, stored.Path, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %d", stored.Path, resp.StatusCode)
	}
	if resp, _ := b.do(http.MethodGet, strings.Replace(stored.Path, ".jpg", ".png", 1), nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("wrong extension: %d", resp.StatusCode)
	}
	if resp, _ := b.do(http.MethodPost, stored.Path, nil); resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}

	// The product service down: an image that could not be looked up is
	// 503 with Retry-After (never 404, which a cache or crawler keeps), on
	// a front that has not cached it.
	f.bus.stop(t, "product")
	_, srv, _ := f.newFront(t, budgets)
	resp, _ := newBrowser(t, srv.URL).do(http.MethodGet, stored.Path, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET %s without the product service: %d %q %q", stored.Path, resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Cache-Control"))
	}
}
