package storefront

import (
	"bytes"
	"container/list"
	"context"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport"
)

// Product images: the shop serves the images the product service stores
// (see the product package doc, "Images"), and the console uploads them.
//
//	GET  /media/{id}-{variant}.{ext}         a variant (thumb, card, full) of a stored image; HEAD too
//	POST /admin/products/{id}/images         uploads an image (multipart: image, csrf, idempotency_key) and adds it to the product
//	POST /admin/products/{id}/images/move    moves one of its images (image=<reference>, dir=up or down)
//	POST /admin/products/{id}/images/remove  removes one of its images from the product (image=<reference>)
//
// A stored image's variants never change (their names are content
// addresses), so /media answers carry an ETag (the SHA-256 of the bytes),
// Cache-Control: public, max-age=31536000, immutable, and 304 to a
// matching If-None-Match; the type is the stored one, never sniffed
// (X-Content-Type-Options: nosniff, as on every answer). A malformed or
// unknown name is a 404. Recently served variants are kept in memory, up
// to Options.MediaCacheBytes; concurrent misses for one name make one call.
//
// An upload may be larger than a bus message: the storefront checks it
// (Options.MaxImageUpload bytes, its type sniffed from the bytes: JPEG,
// PNG or WebP; its pixel size read from its header and checked against
// Options.MaxImageSide and MaxImagePixels before anything is decoded),
// decodes it, scales it down to product.FullSide and re-encodes it (which
// drops EXIF and every other metadata), then puts those bytes with
// product.put_image, which checks them again and makes the variants. Only
// an admin's upload may be that large: other requests keep the
// MaxBodyBytes limit. What is wrong with a file is said on the product's
// page, next to the upload form.

// Defaults of the image Options.
const (
	// DefaultMaxImageUpload is the largest image file the console accepts.
	DefaultMaxImageUpload = 10 << 20
	// DefaultMaxImageSide is the widest and tallest image it accepts.
	DefaultMaxImageSide = 8000
	// DefaultMaxImagePixels bounds width × height (40 megapixels): a
	// decoded image takes 1.5 to 8 bytes a pixel, and scaling (or turning
	// a photo upright) makes a 4-byte copy or two.
	DefaultMaxImagePixels = 40_000_000
	// DefaultMediaCacheBytes is how many bytes of image variants are kept
	// in memory.
	DefaultMediaCacheBytes = 32 << 20
	// MediaCacheControl is the Cache-Control of a served image variant.
	MediaCacheControl = "public, max-age=31536000, immutable"
	// ImageWorkers is how many uploads are decoded at once, which bounds
	// the memory they take (up to about MaxImagePixels × 16 bytes each).
	ImageWorkers = 2
)

// imageNotices are the console's notices after an image action.
var imageNotices = map[string]string{
	"image_added":   "The image was added.",
	"image_moved":   "The images were reordered.",
	"image_removed": "The image was removed from the product.",
}

func init() { maps.Copy(adminNotices, imageNotices) }

// mediaState is the storefront's image serving and upload state.
type mediaState struct {
	cache   *mediaCache
	workers chan struct{}
}

// mediaDefaults fills in the image Options left zero.
func mediaDefaults(opts *Options) {
	if opts.MaxImageUpload <= 0 {
		opts.MaxImageUpload = DefaultMaxImageUpload
	}
	if opts.MaxImageSide <= 0 {
		opts.MaxImageSide = DefaultMaxImageSide
	}
	if opts.MaxImagePixels <= 0 {
		opts.MaxImagePixels = DefaultMaxImagePixels
	}
	if opts.MediaCacheBytes == 0 {
		opts.MediaCacheBytes = DefaultMediaCacheBytes
	}
}

func newMediaState(opts Options) mediaState {
	return mediaState{cache: newMediaCache(max(0, opts.MediaCacheBytes)), workers: make(chan struct{}, ImageWorkers)}
}

// mediaRoutes registers the image routes on m.
func (s *Storefront) mediaRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /media/{file}", s.mediaFile)
	m.HandleFunc("POST /admin/products/{id}/images", s.adminUploadImage)
	m.HandleFunc("POST /admin/products/{id}/images/move", s.adminArrangeImages)
	m.HandleFunc("POST /admin/products/{id}/images/remove", s.adminArrangeImages)
}

// bodyLimit is the largest body r may have: MaxBodyBytes, but for an
// admin's upload of an image (twice Options.MaxImageUpload, so that a
// file somewhat over the limit is refused with a clear message on the
// page rather than a 413).
func (s *Storefront) bodyLimit(w http.ResponseWriter, r *http.Request) int64 {
	if r.Method != http.MethodPost || !uploadPath(r.URL.Path) {
		return MaxBodyBytes
	}
	if v := s.identify(w, r); v.user == nil || !v.user.Has(shop.RoleAdmin) {
		return MaxBodyBytes
	}
	return 2*s.opts.MaxImageUpload + MaxBodyBytes
}

// uploadPath reports whether path is /admin/products/{id}/images.
func uploadPath(path string) bool {
	rest, ok := strings.CutPrefix(path, "/admin/products/")
	id, ok2 := strings.CutSuffix(rest, "/images")
	return ok && ok2 && id != "" && !strings.Contains(id, "/")
}

// mediaPath reports whether r asks for an image variant: served without
// a session.
func mediaPath(path string) bool { return strings.HasPrefix(path, product.MediaPrefix) }

// mediaVariant is the template function "media": the path of variant of
// the image ref (a Product.Images entry), or ref for an external URL.
func mediaVariant(ref, variant string) string { return product.ImageVariantPath(ref, variant) }

// mediaFile serves GET and HEAD /media/{file}.
func (s *Storefront) mediaFile(w http.ResponseWriter, r *http.Request) {
	name, ext, ok := product.ParseImagePath(product.MediaPrefix + r.PathValue("file"))
	if !ok {
		mediaError(w, http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.CallTimeout)
	defer cancel()
	img, err := s.media.cache.get(ctx, name, func(ctx context.Context) (product.ImageData, error) {
		return s.product.Image(ctx, product.ImageRequest{Name: name})
	})
	switch st := StatusOf(err); {
	case err == nil:
	case st == http.StatusNotFound || st == http.StatusBadRequest:
		mediaError(w, http.StatusNotFound)
		return
	default:
		s.warn(ctx, "media", product.ServiceName, err)
		mediaError(w, st)
		return
	}
	if product.ImageExt(img.Type) != ext {
		mediaError(w, http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", img.Type)
	h.Set("ETag", `"`+img.ETag+`"`)
	h.Set("Cache-Control", MediaCacheControl)
	h.Set("Content-Security-Policy", "default-src 'none'")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(img.Data))
}

// mediaError answers a /media request that failed, in plain text and
// not to be cached (a missing image may be uploaded later).
func mediaError(w http.ResponseWriter, status int) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "5")
	}
	http.Error(w, http.StatusText(status), status)
}

// ---- the cache ----

// mediaCache keeps recently served image variants, up to max bytes, the
// least recently used dropped first.
type mediaCache struct {
	mu    sync.Mutex
	max   int64
	size  int64
	order *list.List // of *product.ImageData, most recent first
	items map[string]*list.Element
	calls map[string]*mediaCall
}

// mediaCall is a fetch under way; the callers asking meanwhile wait for it.
type mediaCall struct {
	done chan struct{}
	img  product.ImageData
	err  error
}

func newMediaCache(max int64) *mediaCache {
	return &mediaCache{max: max, order: list.New(), items: map[string]*list.Element{}, calls: map[string]*mediaCall{}}
}

// get returns the variant called name, from memory or by fetch (one
// fetch at a time per name).
func (c *mediaCache) get(ctx context.Context, name string, fetch func(context.Context) (product.ImageData, error)) (product.ImageData, error) {
	c.mu.Lock()
	if e, ok := c.items[name]; ok {
		c.order.MoveToFront(e)
		img := *e.Value.(*product.ImageData)
		c.mu.Unlock()
		return img, nil
	}
	if call, ok := c.calls[name]; ok {
		c.mu.Unlock()
		select {
		case <-call.done:
			return call.img, call.err
		case <-ctx.Done():
			return product.ImageData{}, transport.ContextError(ctx)
		}
	}
	call := &mediaCall{done: make(chan struct{})}
	c.calls[name] = call
	c.mu.Unlock()

	call.img, call.err = fetch(ctx)
	c.mu.Lock()
	delete(c.calls, name)
	if call.err == nil {
		c.add(name, call.img)
	}
	c.mu.Unlock()
	close(call.done)
	return call.img, call.err
}

// add keeps img; c.mu is held.
func (c *mediaCache) add(name string, img product.ImageData) {
	n := int64(len(img.Data))
	if n > c.max/4 { // one image must not empty the cache
		return
	}
	if _, ok := c.items[name]; ok {
		return
	}
	c.items[name] = c.order.PushFront(&img)
	c.size += n
	for c.size > c.max {
		last := c.order.Back()
		old := last.Value.(*product.ImageData)
		c.order.Remove(last)
		delete(c.items, old.Name)
		c.size -= int64(len(old.Data))
	}
}

// ---- the console ----

// adminImage is one of a product's images on its console page.
type adminImage struct {
	Ref   string // as Product.Images holds it
	Thumb string // what the page shows
	// Stored says the shop stores it (else it is an external URL).
	Stored      bool
	First, Last bool
}

// adminImages are p's images for the console.
func adminImages(p product.Product) []adminImage {
	out := make([]adminImage, len(p.Images))
	for i, ref := range p.Images {
		_, _, stored := product.ParseImagePath(ref)
		out[i] = adminImage{Ref: ref, Thumb: product.ImageVariantPath(ref, product.VariantThumb), Stored: stored,
			First: i == 0, Last: i == len(p.Images)-1}
	}
	return out
}

// imagePage renders the product's page with msg next to its images.
func (s *Storefront) imagePage(w http.ResponseWriter, r *http.Request, ctx context.Context, p product.Product, status int, msg string) {
	s.showProduct(w, r, ctx, s.refs(ctx), productPage{status: status, p: p, form: formOf(p), imageErr: msg})
}

// adminUploadImage serves POST /admin/products/{id}/images.
func (s *Storefront) adminUploadImage(w http.ResponseWriter, r *http.Request) {
	ctx, p, ok := s.adminProduct(w, r)
	if !ok {
		return
	}
	show := func(status int, msg string) { s.imagePage(w, r, ctx, p, status, msg) }
	if len(p.Images) >= product.MaxImages {
		show(http.StatusBadRequest, "This product has "+strconv.Itoa(len(p.Images))+" images, the most it can have: please remove one first.")
		return
	}
	file, hdr, err := r.FormFile("image")
	if err != nil {
		show(http.StatusBadRequest, "Please choose an image file (JPEG, PNG or WebP) to upload.")
		return
	}
	defer file.Close()
	limit := s.opts.MaxImageUpload
	if hdr.Size > limit {
		show(http.StatusRequestEntityTooLarge, "The file is "+product.FormatBytes(hdr.Size)+": images of at most "+product.FormatBytes(limit)+" are accepted.")
		return
	}
	data, err := io.ReadAll(io.LimitReader(file, limit+1))
	if err != nil {
		s.fail(w, r, formError(err))
		return
	}
	if int64(len(data)) > limit {
		show(http.StatusRequestEntityTooLarge, "The file is larger than "+product.FormatBytes(limit)+", the most accepted.")
		return
	}
	enc, err := s.prepareImage(ctx, data)
	if err != nil {
		if e := transport.AsError(err); e != nil && e.Code == transport.CodeInvalid && len(e.Fields) > 0 {
			show(http.StatusBadRequest, "The file "+e.Fields[0].Message+".")
			return
		}
		s.adminFail(w, r, err, show)
		return
	}
	stored, err := s.product.PutImage(anotherCall(ctx, "put image"), product.PutImageRequest{Data: enc})
	if err != nil {
		s.adminFail(w, r, err, func(status int, msg string) {
			if e := transport.AsError(err); e != nil && e.Code == transport.CodeInvalid && len(e.Fields) > 0 {
				msg = "The image " + e.Fields[0].Message + "."
			}
			show(status, msg)
		})
		return
	}
	if !slices.Contains(p.Images, stored.Path) {
		images := append(slices.Clone(p.Images), stored.Path)
		if _, err := s.product.Update(anotherCall(ctx, "add image"), product.UpdateRequest{ID: p.ID, Images: &images}); err != nil {
			s.adminFail(w, r, err, show)
			return
		}
	}
	adminDone(w, r, "/admin/products/"+url.PathEscape(p.ID), "image_added")
}

// prepareImage checks an upload against the Options' limits, decodes it
// and re-encodes it at most product.FullSide pixels a side, in at most
// product.MaxImageBytes: what product.put_image takes. At most
// ImageWorkers uploads are decoded at once.
func (s *Storefront) prepareImage(ctx context.Context, data []byte) ([]byte, error) {
	select {
	case s.media.workers <- struct{}{}:
	case <-ctx.Done():
		return nil, transport.ContextError(ctx)
	}
	defer func() { <-s.media.workers }()
	img, _, err := product.DecodeImage(data, product.ImageLimits{MaxBytes: s.opts.MaxImageUpload, MaxSide: s.opts.MaxImageSide, MaxPixels: s.opts.MaxImagePixels}, "image")
	if err != nil {
		return nil, err
	}
	enc, err := product.EncodeImage(img, product.FullSide, product.MaxImageBytes)
	if err != nil {
		return nil, err
	}
	return enc.Data, nil
}

// adminArrangeImages serves POST /admin/products/{id}/images/move and
// /remove: the image (its reference) moves one place up or down, or
// leaves the product (the stored image is kept: other products may show
// it, and its address must keep working for pages cached elsewhere).
func (s *Storefront) adminArrangeImages(w http.ResponseWriter, r *http.Request) {
	ctx, p, ok := s.adminProduct(w, r)
	if !ok {
		return
	}
	show := func(status int, msg string) { s.imagePage(w, r, ctx, p, status, msg) }
	i := slices.Index(p.Images, r.PostFormValue("image"))
	if i < 0 {
		show(http.StatusConflict, "That image is no longer one of this product's: the page was out of date. Here it is as it is now.")
		return
	}
	images := slices.Clone(p.Images)
	done := "image_moved"
	switch dir := r.PostFormValue("dir"); {
	case strings.HasSuffix(r.URL.Path, "/remove"):
		images, done = slices.Delete(images, i, i+1), "image_removed"
	case dir == "up" && i > 0:
		images[i-1], images[i] = images[i], images[i-1]
	case dir == "down" && i < len(images)-1:
		images[i], images[i+1] = images[i+1], images[i]
	case dir != "up" && dir != "down":
		show(http.StatusBadRequest, "An image moves up or down.")
		return
	}
	if !slices.Equal(images, p.Images) {
		if _, err := s.product.Update(ctx, product.UpdateRequest{ID: p.ID, Images: &images}); err != nil {
			s.adminFail(w, r, err, show)
			return
		}
	}
	adminDone(w, r, "/admin/products/"+url.PathEscape(p.ID), done)
}
