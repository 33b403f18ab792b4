package product

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/image/draw"
	"golang.org/x/image/webp"

	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/internal/kit"
	"github.com/shopbus/shopbus/transport"
)

// Product images (see the package doc, "Images").
//
// An image is put once (PutImage) and kept in the collection "images" as
// one document per variant, keyed by _id only: "<id>-<variant>", where id
// is the hex SHA-256 of the bytes given to PutImage. A read (Image) is a
// lookup by _id, which the embedded store indexes; nothing else queries
// the collection.

// Image variants: what PutImage makes of an image, each scaled so that its
// longest side is at most the variant's size (never enlarged).
const (
	// VariantThumb is a thumbnail (the console's lists).
	VariantThumb = "thumb"
	// VariantCard is the size of a product card in a listing.
	VariantCard = "card"
	// VariantFull is the size of the product page.
	VariantFull = "full"
)

// Variant sizes: the longest side in pixels.
const (
	ThumbSide = 160
	CardSide  = 480
	FullSide  = 1600
)

// Image limits of the product service.
const (
	// MaxImageBytes is the largest encoded image PutImage accepts and the
	// largest variant it stores, so that a request or a reply carrying one
	// (base64 in JSON) fits in a bus message (transport.DefaultMaxMessageSize).
	MaxImageBytes = 700 << 10
	// MaxImageSide is the widest and tallest image PutImage accepts: a
	// caller scales larger ones down to FullSide first (the storefront
	// does), which bounds the memory a decode takes.
	MaxImageSide = 2048
	// MediaPrefix starts the path of a stored image's variant as the shop
	// serves it: MediaPrefix + "<id>-<variant>.<ext>" (see ImagePath).
	MediaPrefix = "/media/"
	// imageIDLen is the length of an image id: a hex SHA-256.
	imageIDLen = 64
)

// Content types of stored images: every variant is re-encoded as JPEG,
// or PNG when the image has transparency.
const (
	TypeJPEG = "image/jpeg"
	TypePNG  = "image/png"
	TypeWebP = "image/webp"
)

// imageVariants are the variants PutImage makes, largest first.
var imageVariants = []struct {
	name string
	side int
}{{VariantFull, FullSide}, {VariantCard, CardSide}, {VariantThumb, ThumbSide}}

// PutImageRequest stores an image.
type PutImageRequest struct {
	// Data is a JPEG, PNG or WebP image of at most MaxImageBytes and
	// MaxImageSide pixels a side (base64 in JSON).
	Data []byte `json:"data"`
}

// Image is a stored image and its variants.
type Image struct {
	// ID is the hex SHA-256 of the bytes the image was put with.
	ID string `json:"id"`
	// Type is the content type of every variant: image/jpeg or image/png.
	Type string `json:"type"`
	// Path is the full variant's path (ImagePath), what Product.Images
	// holds to show this image.
	Path     string         `json:"path"`
	Variants []ImageVariant `json:"variants"`
}

// ImageVariant is one stored size of an image.
type ImageVariant struct {
	// Name is the variant's name: "<id>-<variant>", what ImageRequest asks for.
	Name    string `json:"name"`
	Variant string `json:"variant"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Bytes   int    `json:"bytes"`
	// Path is where the shop serves it (ImagePath).
	Path string `json:"path"`
}

// ImageRequest asks for one variant of an image.
type ImageRequest struct {
	// Name is "<id>-<variant>" (ImageVariant.Name).
	Name string `json:"name"`
}

// ImageData is one variant of an image with its bytes.
type ImageData struct {
	Name string `json:"name"`
	// Type is the content type: image/jpeg or image/png.
	Type string `json:"type"`
	// Data is the encoded image (base64 in JSON).
	Data []byte `json:"data"`
	// ETag is the hex SHA-256 of Data.
	ETag   string `json:"etag"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// imageDoc is one variant of an image in the collection "images".
type imageDoc struct {
	ID        string    `bson:"_id"` // "<id>-<variant>"
	Type      string    `bson:"type"`
	Data      []byte    `bson:"data"`
	ETag      string    `bson:"etag"`
	Width     int       `bson:"width"`
	Height    int       `bson:"height"`
	CreatedAt time.Time `bson:"created_at"`
}

func (d imageDoc) variant() ImageVariant {
	id, variant, _ := strings.Cut(d.ID, "-")
	return ImageVariant{Name: d.ID, Variant: variant, Width: d.Width, Height: d.Height, Bytes: len(d.Data), Path: ImagePath(id, variant, d.Type)}
}

// ---- names and paths ----

// ImageExt is the file extension of a content type: "jpg", "png" or "webp"
// ("" for another type).
func ImageExt(contentType string) string {
	switch contentType {
	case TypeJPEG:
		return "jpg"
	case TypePNG:
		return "png"
	case TypeWebP:
		return "webp"
	}
	return ""
}

// ImagePath is the path the shop serves a variant of a stored image
// under: "/media/<id>-<variant>.<ext>".
func ImagePath(id, variant, contentType string) string {
	return MediaPrefix + id + "-" + variant + "." + ImageExt(contentType)
}

// ParseImageName splits "<id>-<variant>" and reports whether it names a
// variant of a stored image (a well-formed id and a known variant).
func ParseImageName(name string) (id, variant string, ok bool) {
	id, variant, found := strings.Cut(name, "-")
	if !found || !validImageID(id) {
		return "", "", false
	}
	switch variant {
	case VariantThumb, VariantCard, VariantFull:
		return id, variant, true
	}
	return "", "", false
}

// ParseImagePath parses a path made by ImagePath: it returns the variant's
// name ("<id>-<variant>") and the file extension, and whether path is one.
func ParseImagePath(path string) (name, ext string, ok bool) {
	rest, found := strings.CutPrefix(path, MediaPrefix)
	if !found {
		return "", "", false
	}
	name, ext, found = strings.Cut(rest, ".")
	if !found || (ext != "jpg" && ext != "png") {
		return "", "", false
	}
	if _, _, ok := ParseImageName(name); !ok {
		return "", "", false
	}
	return name, ext, true
}

// ImageVariantPath returns the path of variant of the stored image that
// ref (a Product.Images entry) names, or ref itself when it is not a
// stored image's path (an external URL).
func ImageVariantPath(ref, variant string) string {
	name, ext, ok := ParseImagePath(ref)
	if !ok {
		return ref
	}
	id, _, _ := ParseImageName(name)
	return MediaPrefix + id + "-" + variant + "." + ext
}

func validImageID(id string) bool {
	if len(id) != imageIDLen {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ---- decoding and encoding ----

// ImageLimits bound what DecodeImage accepts.
type ImageLimits struct {
	// MaxBytes bounds the encoded image.
	MaxBytes int64
	// MaxSide bounds its width and its height, in pixels.
	MaxSide int
	// MaxPixels bounds width × height.
	MaxPixels int
}

// ServiceLimits are what PutImage accepts.
var ServiceLimits = ImageLimits{MaxBytes: MaxImageBytes, MaxSide: MaxImageSide, MaxPixels: MaxImageSide * MaxImageSide}

// SniffImage returns the content type of data by its first bytes:
// TypeJPEG, TypePNG or TypeWebP, or "" for anything else.
func SniffImage(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")):
		return TypeJPEG
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return TypePNG
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return TypeWebP
	}
	return ""
}

// invalidImage is the invalid error about field's image.
func invalidImage(field, msg string) error { return shop.Invalid("invalid image", field, msg) }

// DecodeImage checks data against lim and decodes it: its type is sniffed
// from its bytes (JPEG, PNG or WebP, whatever it is called), its size
// read from its header (image.DecodeConfig) and checked before anything
// is decoded. It returns the image and its content type; what is wrong
// is an invalid error on field.
func DecodeImage(data []byte, lim ImageLimits, field string) (image.Image, string, error) {
	if len(data) == 0 {
		return nil, "", invalidImage(field, "is required")
	}
	if lim.MaxBytes > 0 && int64(len(data)) > lim.MaxBytes {
		return nil, "", invalidImage(field, "is "+FormatBytes(int64(len(data)))+": at most "+FormatBytes(lim.MaxBytes)+" is accepted")
	}
	typ := SniffImage(data)
	var (
		config func([]byte) (image.Config, error)
		decode func([]byte) (image.Image, error)
	)
	switch typ {
	case TypeJPEG:
		config = func(b []byte) (image.Config, error) { return jpeg.DecodeConfig(bytes.NewReader(b)) }
		decode = func(b []byte) (image.Image, error) { return jpeg.Decode(bytes.NewReader(b)) }
	case TypePNG:
		config = func(b []byte) (image.Config, error) { return png.DecodeConfig(bytes.NewReader(b)) }
		decode = func(b []byte) (image.Image, error) { return png.Decode(bytes.NewReader(b)) }
	case TypeWebP:
		config = func(b []byte) (image.Config, error) { return webp.DecodeConfig(bytes.NewReader(b)) }
		decode = func(b []byte) (image.Image, error) { return webp.Decode(bytes.NewReader(b)) }
	default:
		return nil, "", invalidImage(field, "must be a JPEG, PNG or WebP image")
	}
	name := map[string]string{TypeJPEG: "JPEG", TypePNG: "PNG", TypeWebP: "WebP"}[typ]
	cfg, err := config(data)
	if err != nil {
		return nil, "", invalidImage(field, "cannot be read as a "+name+" image (damaged or unsupported)")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, "", invalidImage(field, "has no pixels")
	}
	if lim.MaxSide > 0 && (cfg.Width > lim.MaxSide || cfg.Height > lim.MaxSide) ||
		lim.MaxPixels > 0 && int64(cfg.Width)*int64(cfg.Height) > int64(lim.MaxPixels) {
		return nil, "", invalidImage(field, fmt.Sprintf("is %d×%d pixels: at most %d pixels a side and %s pixels in all are accepted",
			cfg.Width, cfg.Height, lim.MaxSide, formatPixels(lim.MaxPixels)))
	}
	img, err := decode(data)
	if err != nil {
		return nil, "", invalidImage(field, "cannot be read as a "+name+" image (damaged or unsupported)")
	}
	if typ == TypeJPEG {
		// The EXIF data is dropped by re-encoding: apply its orientation
		// first, or a phone's portrait photo would lie on its side.
		img = orient(img, jpegOrientation(data))
	}
	return img, typ, nil
}

// jpegOrientation returns the EXIF orientation (1 to 8) of a JPEG, 1 when
// it has none or it cannot be read.
func jpegOrientation(data []byte) int {
	// The segments before the image data: FF xx, a 2-byte length.
	for i := 2; i+4 <= len(data) && data[i] == 0xff; {
		marker, n := data[i+1], int(data[i+2])<<8|int(data[i+3])
		if marker == 0xda || n < 2 || i+2+n > len(data) { // start of scan, or damaged
			break
		}
		seg := data[i+4 : i+2+n]
		if marker == 0xe1 && len(seg) > 14 && string(seg[:6]) == "Exif\x00\x00" {
			if o := tiffOrientation(seg[6:]); o >= 1 && o <= 8 {
				return o
			}
			return 1
		}
		i += 2 + n
	}
	return 1
}

// tiffOrientation reads tag 0x0112 of a TIFF header's first IFD.
func tiffOrientation(t []byte) int {
	var u16 func([]byte) uint32
	var u32 func([]byte) uint32
	switch string(t[:2]) {
	case "II":
		u16 = func(b []byte) uint32 { return uint32(b[0]) | uint32(b[1])<<8 }
		u32 = func(b []byte) uint32 { return u16(b) | u16(b[2:])<<16 }
	case "MM":
		u16 = func(b []byte) uint32 { return uint32(b[1]) | uint32(b[0])<<8 }
		u32 = func(b []byte) uint32 { return u16(b)<<16 | u16(b[2:]) }
	default:
		return 0
	}
	off := u32(t[4:])
	if off < 8 || uint64(off)+2 > uint64(len(t)) {
		return 0
	}
	count := u16(t[off:])
	for k := range count {
		e := uint64(off) + 2 + uint64(k)*12
		if e+12 > uint64(len(t)) {
			return 0
		}
		if u16(t[e:]) == 0x0112 && u16(t[e+2:]) == 3 { // SHORT
			return int(u16(t[e+8:]))
		}
	}
	return 0
}

// orient returns img turned upright from EXIF orientation o.
func orient(img image.Image, o int) image.Image {
	if o <= 1 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o >= 5 { // the sides swap
		dw, dh = h, w
	}
	src := toRGBA(img)
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := range h {
		row := src.Pix[y*src.Stride:]
		for x := range w {
			var dx, dy int
			switch o {
			case 2: // mirrored
				dx, dy = w-1-x, y
			case 3: // turned 180°
				dx, dy = w-1-x, h-1-y
			case 4: // mirrored vertically
				dx, dy = x, h-1-y
			case 5: // transposed
				dx, dy = y, x
			case 6: // turned 90° clockwise to be upright
				dx, dy = h-1-y, x
			case 7: // transversed
				dx, dy = h-1-y, w-1-x
			case 8: // turned 90° counter-clockwise to be upright
				dx, dy = y, w-1-x
			}
			copy(dst.Pix[dy*dst.Stride+dx*4:][:4], row[x*4:x*4+4])
		}
	}
	return dst
}

// FormatBytes writes a size for people: "10 MB", "700 KB", "512 bytes".
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return strings.TrimSuffix(strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64), ".0") + " MB"
	case n >= 1<<10:
		return strconv.FormatInt(n>>10, 10) + " KB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

func formatPixels(n int) string {
	if n >= 1_000_000 {
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + " million"
	}
	return strconv.Itoa(n)
}

// EncodedImage is an image as EncodeImage made it.
type EncodedImage struct {
	Data          []byte
	Type          string // TypeJPEG or TypePNG
	Width, Height int
}

// JPEGQuality is the quality EncodeImage encodes JPEG at first.
const JPEGQuality = 85

// EncodeImage scales img down so that its longest side is at most side
// (never up) and encodes it: as a JPEG (quality JPEGQuality) when it is
// opaque, else as a PNG. Nothing of the source's metadata (EXIF, colour
// profiles, comments) is carried over. When the encoding is larger than
// maxBytes it lowers the JPEG quality, then the size, until it fits.
func EncodeImage(img image.Image, side, maxBytes int) (EncodedImage, error) {
	enc, _, err := encodeScaled(img, side, maxBytes)
	return enc, err
}

// encodeScaled is EncodeImage, and returns the scaled image it encoded too.
func encodeScaled(img image.Image, side, maxBytes int) (EncodedImage, image.Image, error) {
	b := img.Bounds()
	w, h := fitSide(b.Dx(), b.Dy(), side)
	opaque := isOpaque(img)
	for range 8 {
		src := img
		if w != b.Dx() || h != b.Dy() {
			src = scale(img, w, h)
		}
		var buf bytes.Buffer
		if opaque {
			for _, q := range []int{JPEGQuality, 75, 65, 50} {
				buf.Reset()
				if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: q}); err != nil {
					return EncodedImage{}, nil, shop.Internal("product: encode JPEG: " + err.Error())
				}
				if buf.Len() <= maxBytes {
					return EncodedImage{Data: buf.Bytes(), Type: TypeJPEG, Width: w, Height: h}, src, nil
				}
			}
		} else {
			enc := png.Encoder{CompressionLevel: png.BestCompression}
			if err := enc.Encode(&buf, src); err != nil {
				return EncodedImage{}, nil, shop.Internal("product: encode PNG: " + err.Error())
			}
			if buf.Len() <= maxBytes {
				return EncodedImage{Data: buf.Bytes(), Type: TypePNG, Width: w, Height: h}, src, nil
			}
		}
		if w == 1 && h == 1 {
			break
		}
		w, h = max(1, w*3/4), max(1, h*3/4)
	}
	return EncodedImage{}, nil, invalidImage("data", "cannot be encoded in "+FormatBytes(int64(maxBytes)))
}

// fitSide returns w×h scaled so that the longest side is at most side.
func fitSide(w, h, side int) (int, int) {
	if w <= side && h <= side {
		return w, h
	}
	if w >= h {
		return side, max(1, int((int64(h)*int64(side)+int64(w)/2)/int64(w)))
	}
	return max(1, int((int64(w)*int64(side)+int64(h)/2)/int64(h))), side
}

// scale draws img into a w×h image: halved by averaging 2×2 pixels while
// it is at least twice as large, then resampled with Catmull-Rom. (A
// kernel's cost grows with the pixels it reads: Catmull-Rom straight from
// 12 megapixels to 1600 took seconds, this about a fifth of that.)
func scale(img image.Image, w, h int) image.Image {
	src := toRGBA(img)
	for src.Rect.Dx() >= 2*w && src.Rect.Dy() >= 2*h {
		src = halve(src)
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	return dst
}

// toRGBA returns img as an *image.RGBA whose bounds start at 0, 0.
func toRGBA(img image.Image) *image.RGBA {
	if m, ok := img.(*image.RGBA); ok && m.Rect.Min == (image.Point{}) {
		return m
	}
	b := img.Bounds()
	m := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(m, m.Bounds(), img, b.Min, draw.Src) // fast for JPEG's YCbCr
	return m
}

// halve returns s at half its size, each pixel the mean of 2×2 (an odd
// last row or column is dropped).
func halve(s *image.RGBA) *image.RGBA {
	w, h := s.Rect.Dx()/2, s.Rect.Dy()/2
	d := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		r0, r1, o := s.Pix[2*y*s.Stride:], s.Pix[(2*y+1)*s.Stride:], d.Pix[y*d.Stride:]
		for x := range w {
			i := 8 * x
			for c := range 4 {
				o[4*x+c] = uint8((uint32(r0[i+c]) + uint32(r0[i+4+c]) + uint32(r1[i+c]) + uint32(r1[i+4+c]) + 2) / 4)
			}
		}
	}
	return d
}

// isOpaque reports whether img has no transparent pixel.
func isOpaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}

// ---- the service's methods ----

// PutImage implements Service: it stores an image (admin only). The
// bytes are not trusted: the type is sniffed again, the size checked
// against ServiceLimits before decoding, and every variant re-encoded
// (which drops EXIF and other metadata). The variants are made once:
// putting the same bytes again returns the stored image.
func (s *Server) PutImage(ctx context.Context, r PutImageRequest) (Image, error) {
	if _, err := shop.RequireAdmin(ctx, s.opts.Auth); err != nil {
		return Image{}, err
	}
	return idem.Do(ctx, s.requests, MethodPutImage, r, func(ctx context.Context) (Image, error) {
		return s.putImage(ctx, r.Data)
	})
}

func (s *Server) putImage(ctx context.Context, data []byte) (Image, error) {
	if len(data) > MaxImageBytes { // before hashing what will be refused
		return Image{}, invalidImage("data", "is "+FormatBytes(int64(len(data)))+": at most "+FormatBytes(MaxImageBytes)+" is accepted")
	}
	sum := sha256.Sum256(data)
	id := hex.EncodeToString(sum[:])
	if img, err := s.storedImage(ctx, id); err == nil || !isNotFound(err) {
		return img, err
	}
	// Decoding takes memory in proportion to the pixels: a few at a time.
	select {
	case s.imageSem <- struct{}{}:
	case <-ctx.Done():
		return Image{}, shop.Unavailable("product: too many images being processed")
	}
	defer func() { <-s.imageSem }()
	img, _, err := DecodeImage(data, ServiceLimits, "data")
	if err != nil {
		return Image{}, err
	}
	// Each variant is scaled from the one before (full from the source,
	// card from full, thumb from card): a scaler's cost grows with the
	// pixels it reads. All are of one type (transparent or not).
	now := s.now()
	out := Image{ID: id}
	docs := make([]imageDoc, 0, len(imageVariants))
	var prev EncodedImage
	for _, v := range imageVariants {
		enc := prev
		if b := img.Bounds(); prev.Data == nil || b.Dx() > v.side || b.Dy() > v.side {
			var scaled image.Image
			enc, scaled, err = encodeScaled(img, v.side, MaxImageBytes)
			if err != nil {
				return Image{}, err
			}
			img, prev = scaled, enc
		} // else: as large as the variant before, which is encoded already

		if out.Type == "" {
			out.Type = enc.Type
		}
		if enc.Type != out.Type { // cannot happen: scaling keeps opacity
			return Image{}, shop.Internal("product: variants of different types")
		}
		etag := sha256.Sum256(enc.Data)
		docs = append(docs, imageDoc{ID: id + "-" + v.name, Type: enc.Type, Data: enc.Data, ETag: hex.EncodeToString(etag[:]),
			Width: enc.Width, Height: enc.Height, CreatedAt: now})
	}
	// One command; a variant stored already (a put that stopped half
	// way, or one running at the same time) is the same bytes: kept. An
	// image is found only once all its variants are (storedImage).
	batch := make([]any, len(docs))
	for i := range docs {
		batch[i] = docs[i]
	}
	if _, err := s.images.InsertMany(ctx, batch, options.InsertMany().SetOrdered(false)); err != nil && !onlyDuplicates(err) {
		return Image{}, kit.Internal("insert image", err)
	}
	out.Path = ImagePath(id, VariantFull, out.Type)
	for _, d := range docs {
		out.Variants = append(out.Variants, d.variant())
	}
	return out, nil
}

// onlyDuplicates reports whether every write error of err is a duplicate key.
func onlyDuplicates(err error) bool {
	var bw mongo.BulkWriteException
	if errors.As(err, &bw) {
		if bw.WriteConcernError != nil || len(bw.WriteErrors) == 0 {
			return false
		}
		for _, we := range bw.WriteErrors {
			if !mongo.IsDuplicateKeyError(we) {
				return false
			}
		}
		return true
	}
	return mongo.IsDuplicateKeyError(err)
}

// storedImage returns the image id as stored; not found unless every
// variant is (a put that stopped half way is not an image yet).
func (s *Server) storedImage(ctx context.Context, id string) (Image, error) {
	var out Image
	for _, v := range imageVariants {
		d, err := s.loadImage(ctx, id+"-"+v.name)
		if err != nil {
			return Image{}, err
		}
		if v.name == VariantFull {
			out = Image{ID: id, Type: d.Type, Path: ImagePath(id, VariantFull, d.Type)}
		}
		out.Variants = append(out.Variants, d.variant())
	}
	return out, nil
}

func (s *Server) loadImage(ctx context.Context, name string) (imageDoc, error) {
	return kit.Find[imageDoc](ctx, s.images, "image", name)
}

func isNotFound(err error) bool { return transport.CodeOf(err) == transport.CodeNotFound }

// Image implements Service: one variant of a stored image, for anyone.
func (s *Server) Image(ctx context.Context, r ImageRequest) (ImageData, error) {
	if _, _, ok := ParseImageName(r.Name); !ok {
		return ImageData{}, shop.Invalid("invalid image name", "name", "must be <64 hex digits>-<thumb, card or full>")
	}
	d, err := s.loadImage(ctx, r.Name)
	if err != nil {
		return ImageData{}, err
	}
	return ImageData{Name: d.ID, Type: d.Type, Data: d.Data, ETag: d.ETag, Width: d.Width, Height: d.Height}, nil
}

// checkStoredImages adds a field error for each of refs that names a
// stored image's path (MediaPrefix) but no stored image. Refs in known
// are not checked again (a product's current images).
func (s *Server) checkStoredImages(ctx context.Context, f *kit.Fields, refs, known []string) error {
	for i, ref := range refs {
		name, ext, ok := ParseImagePath(ref)
		if !ok || slices.Contains(known, ref) {
			continue
		}
		typ, err := s.imageType(ctx, name)
		switch {
		case isNotFound(err):
			f.Add("images["+strconv.Itoa(i)+"]", "names no stored image")
		case err != nil:
			return err
		case ImageExt(typ) != ext:
			f.Add("images["+strconv.Itoa(i)+"]", "must end in ."+ImageExt(typ)+": the image is "+typ)
		}
	}
	return nil
}

// maxKnownImages bounds the stored images a Server remembers (imageType).
const maxKnownImages = 10_000

// knownImages remembers the media type of stored image variants found,
// by name. Images are content addressed and never removed, so a name
// found once names the same image for good.
type knownImages struct {
	sync.Mutex
	types map[string]string
}

// imageType returns the media type of the stored image variant name,
// looking it up (without its bytes) unless this Server found it before.
func (s *Server) imageType(ctx context.Context, name string) (string, error) {
	k := &s.knownImages
	k.Lock()
	typ, ok := k.types[name]
	k.Unlock()
	if ok {
		return typ, nil
	}
	d, err := kit.Find[imageDoc](ctx, s.images, "image", name, options.FindOne().SetProjection(bson.D{{Key: "type", Value: 1}}))
	if err != nil {
		return "", err
	}
	k.Lock()
	if len(k.types) >= maxKnownImages || k.types == nil {
		k.types = make(map[string]string) // forget them all: a few lookups again
	}
	k.types[name] = d.Type
	k.Unlock()
	return d.Type, nil
}
