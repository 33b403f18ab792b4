package seo

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopbus/shopbus/shop"
)

// SitemapNamespace is the XML namespace of sitemaps and sitemap indexes.
const SitemapNamespace = "http://www.sitemaps.org/schemas/sitemap/0.9"

// Sitemap file names.
const (
	SitemapIndexName = "sitemap.xml"
	sitemapPartFmt   = "sitemap-%d.xml"
)

const (
	xmlHeader   = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
	urlsetOpen  = `<urlset xmlns="` + SitemapNamespace + `">` + "\n"
	urlsetClose = "</urlset>\n"
	indexOpen   = `<sitemapindex xmlns="` + SitemapNamespace + `">` + "\n"
	indexClose  = "</sitemapindex>\n"
)

// sitemapEntry is one <url> element, rendered.
type sitemapEntry struct {
	path    string
	xml     string
	lastMod time.Time
}

// Sitemap implements Service.
func (s *Server) Sitemap(ctx context.Context, r SitemapRequest) (SitemapFile, error) {
	if s.opts.BaseURL == "" {
		return SitemapFile{}, shop.Unavailable("the sitemap needs the service's BaseURL option")
	}
	part := 0 // 0: the main file
	switch name := r.Name; {
	case name == "" || name == SitemapIndexName:
	default:
		n, ok := partNumber(name)
		if !ok {
			return SitemapFile{}, shop.Invalid("invalid request", "name", `must be "sitemap.xml" or "sitemap-N.xml"`)
		}
		part = n
	}
	v, err := s.sitemap.current(ctx)
	if err != nil {
		return SitemapFile{}, err
	}
	files := v.files
	file := SitemapFile{ContentType: "application/xml", Parts: len(files)}
	switch {
	case part == 0 && len(files) == 1:
		file.Name = SitemapIndexName
		file.URLs = len(files[0].items)
		file.Body = files[0].bytes()
	case part == 0:
		file.Name, file.Index = SitemapIndexName, true
		file.URLs = v.urls
		file.Body = v.indexBytes(s)
	case part > len(files):
		return SitemapFile{}, shop.NotFound("sitemap file")
	default:
		file.Name = fmt.Sprintf(sitemapPartFmt, part)
		file.URLs = len(files[part-1].items)
		file.Body = files[part-1].bytes()
	}
	return file, nil
}

// partNumber parses "sitemap-N.xml".
func partNumber(name string) (int, bool) {
	digits, ok := strings.CutPrefix(name, "sitemap-")
	if !ok {
		return 0, false
	}
	digits, ok = strings.CutSuffix(digits, ".xml")
	if !ok || digits == "" || len(digits) > 9 || digits[0] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil && n > 0
}

// urlset renders f.
func urlset(f *sitemapFile) []byte {
	var b bytes.Buffer
	b.Grow(f.size)
	b.WriteString(xmlHeader)
	b.WriteString(urlsetOpen)
	for _, it := range f.items {
		b.WriteString(it.entry.xml)
	}
	b.WriteString(urlsetClose)
	return b.Bytes()
}

// index renders the sitemap index of files.
func (s *Server) index(files []*sitemapFile) []byte {
	var b bytes.Buffer
	b.WriteString(xmlHeader)
	b.WriteString(indexOpen)
	for i, p := range files {
		b.WriteString("<sitemap><loc>")
		_ = xml.EscapeText(&b, []byte(s.opts.BaseURL+"/"+fmt.Sprintf(sitemapPartFmt, i+1)))
		b.WriteString("</loc>")
		if !p.lastMod.IsZero() {
			b.WriteString("<lastmod>" + p.lastMod.Format(time.RFC3339) + "</lastmod>")
		}
		b.WriteString("</sitemap>\n")
	}
	b.WriteString(indexClose)
	return b.Bytes()
}
