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

// sitemapPart is one urlset file: a run of the sitemap's items.
type sitemapPart struct {
	entries []*sitemapItem
	size    int
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
	parts := v.parts
	file := SitemapFile{ContentType: "application/xml", Parts: len(parts)}
	switch {
	case part == 0 && len(parts) == 1:
		file.Name = SitemapIndexName
		file.URLs = len(parts[0].entries)
	case part == 0:
		file.Name, file.Index = SitemapIndexName, true
		file.URLs = len(v.entries)
	case part > len(parts):
		return SitemapFile{}, shop.NotFound("sitemap file")
	default:
		file.Name = fmt.Sprintf(sitemapPartFmt, part)
		file.URLs = len(parts[part-1].entries)
	}
	file.Body = s.sitemap.body(v, part)
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

// split cuts entries into files of at most SitemapMaxURLs URLs and
// SitemapMaxBytes bytes. There is always at least one file. The parts
// share entries' array.
func (s *Server) split(entries []*sitemapItem) []sitemapPart {
	overhead := len(xmlHeader) + len(urlsetOpen) + len(urlsetClose)
	parts := []sitemapPart{{size: overhead, entries: entries[:0:0]}}
	lo := 0
	for i, e := range entries {
		p := &parts[len(parts)-1]
		if i > lo && (i-lo >= s.opts.SitemapMaxURLs || p.size+len(e.entry.xml) > s.opts.SitemapMaxBytes) {
			parts = append(parts, sitemapPart{size: overhead})
			p, lo = &parts[len(parts)-1], i
		}
		p.entries = entries[lo : i+1 : i+1]
		p.size += len(e.entry.xml)
		if e.entry.lastMod.After(p.lastMod) {
			p.lastMod = e.entry.lastMod
		}
	}
	return parts
}

func urlset(p sitemapPart) []byte {
	var b bytes.Buffer
	b.Grow(p.size)
	b.WriteString(xmlHeader)
	b.WriteString(urlsetOpen)
	for _, e := range p.entries {
		b.WriteString(e.entry.xml)
	}
	b.WriteString(urlsetClose)
	return b.Bytes()
}

func (s *Server) index(parts []sitemapPart) []byte {
	var b bytes.Buffer
	b.WriteString(xmlHeader)
	b.WriteString(indexOpen)
	for i, p := range parts {
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
