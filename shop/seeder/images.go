package seeder

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/color"
	"image/jpeg"
	"math"

	"github.com/shopbus/shopbus/shop/catalog/product"
)

// Sample images: each product has one picture, drawn here (no external
// URL, so an offline shop shows pictures) and stored through
// product.put_image. A picture is a diagonal gradient between two colours
// with a few discs and bars, all drawn from a random stream of the seed:
// the same seed draws the same picture, byte for byte, so its stored path
// (content addressed) is known before it is put. There are ImageDesigns
// pictures per seed, product i showing design i mod ImageDesigns: the
// sample shop's products all look different, and a large shop costs
// ImageDesigns pictures to draw and store, not one per product.

// ImageSide is the width and height of a sample picture, in pixels.
const ImageSide = 480

// ImageDesigns is how many different pictures one seed draws.
const ImageDesigns = 64

// ProductImage returns the sample picture of product i, a JPEG (design
// ImageDesign(i), drawn once per Dataset).
func (d *Dataset) ProductImage(i int) []byte {
	k := ImageDesign(i)
	d.imagesOnce[k].Do(func() { d.images[k] = d.drawImage(k) })
	return d.images[k]
}

// ImageDesign returns which of the ImageDesigns pictures product i shows.
func ImageDesign(i int) int { return i % ImageDesigns }

// drawImage draws picture design k.
func (d *Dataset) drawImage(k int) []byte {
	r := d.rng("image", k)
	hue := r.Float64() * 360
	from := hsv(hue, 0.35+r.Float64()*0.3, 0.95)
	to := hsv(math.Mod(hue+40+r.Float64()*80, 360), 0.55+r.Float64()*0.35, 0.55+r.Float64()*0.25)
	img := image.NewRGBA(image.Rect(0, 0, ImageSide, ImageSide))
	for y := range ImageSide {
		for x := range ImageSide {
			t := float64(x+y) / float64(2*ImageSide-2)
			o := img.PixOffset(x, y)
			img.Pix[o+0] = lerp(from.R, to.R, t)
			img.Pix[o+1] = lerp(from.G, to.G, t)
			img.Pix[o+2] = lerp(from.B, to.B, t)
			img.Pix[o+3] = 255
		}
	}
	accent := hsv(math.Mod(hue+180, 360), 0.6, 0.9)
	for range 2 + r.IntN(3) { // discs
		cx, cy := 60+r.IntN(ImageSide-120), 60+r.IntN(ImageSide-120)
		rad := 20 + r.IntN(90)
		alpha := 0.35 + r.Float64()*0.5
		for y := max(0, cy-rad); y < min(ImageSide, cy+rad); y++ {
			for x := max(0, cx-rad); x < min(ImageSide, cx+rad); x++ {
				if dx, dy := x-cx, y-cy; dx*dx+dy*dy <= rad*rad {
					blend(img, x, y, accent, alpha)
				}
			}
		}
	}
	white := color.RGBA{255, 255, 255, 255}
	for range 1 + r.IntN(3) { // bars
		y0, h := r.IntN(ImageSide-40), 8+r.IntN(30)
		for y := y0; y < min(ImageSide, y0+h); y++ {
			for x := range ImageSide {
				blend(img, x, y, white, 0.25)
			}
		}
	}
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, img, &jpeg.Options{Quality: product.JPEGQuality}) // writing to memory cannot fail
	return buf.Bytes()
}

// ProductImagePath returns the path of product i's picture once it is
// stored (product.ImagePath: the product service names an image by the
// SHA-256 of the bytes put, and keeps an opaque picture a JPEG).
func (d *Dataset) ProductImagePath(i int) string {
	sum := sha256.Sum256(d.ProductImage(i))
	return product.ImagePath(hex.EncodeToString(sum[:]), product.VariantFull, product.TypeJPEG)
}

func lerp(a, b uint8, t float64) uint8 { return uint8(float64(a) + (float64(b)-float64(a))*t + 0.5) }

// blend paints c over the pixel at x, y with opacity alpha.
func blend(img *image.RGBA, x, y int, c color.RGBA, alpha float64) {
	o := img.PixOffset(x, y)
	for k, v := range [3]uint8{c.R, c.G, c.B} {
		img.Pix[o+k] = uint8(float64(img.Pix[o+k])*(1-alpha) + float64(v)*alpha + 0.5)
	}
}

// hsv converts a colour from hue (degrees), saturation and value (0-1).
func hsv(h, s, v float64) color.RGBA {
	c := v * s
	x := c * (1 - math.Abs(math.Mod(h/60, 2)-1))
	m := v - c
	var r, g, b float64
	switch {
	case h < 60:
		r, g = c, x
	case h < 120:
		r, g = x, c
	case h < 180:
		g, b = c, x
	case h < 240:
		g, b = x, c
	case h < 300:
		r, b = x, c
	default:
		r, b = c, x
	}
	return color.RGBA{uint8((r + m) * 255), uint8((g + m) * 255), uint8((b + m) * 255), 255}
}
