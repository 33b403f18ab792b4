package seo

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
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

// sitemapPart is one urlset file.
type sitemapPart struct {
	entries []sitemapEntry
	size    int
	lastMod time.Time
}

// Sitemap implements Service.
func (s *Server) Sitemap(ctx context.Context, r SitemapRequest) (SitemapFile, error) {
	if s.opts.BaseURL == "" {
		return SitemapFile{}, transport.Errorf(transport.CodeUnavailable, "the sitemap needs the service's BaseURL option")
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
	entries, err := s.sitemapEntries(ctx)
	if err != nil {
		return SitemapFile{}, err
	}
	parts := s.split(entries)
	file := SitemapFile{ContentType: "application/xml", Parts: len(parts)}
	switch {
	case part == 0 && len(parts) == 1:
		file.Name = SitemapIndexName
		file.URLs = len(parts[0].entries)
		file.Body = urlset(parts[0])
	case part == 0:
		file.Name, file.Index = SitemapIndexName, true
		file.URLs = len(entries)
		file.Body = s.index(parts)
	case part > len(parts):
		return SitemapFile{}, shop.NotFound("sitemap file")
	default:
		file.Name = fmt.Sprintf(sitemapPartFmt, part)
		file.URLs = len(parts[part-1].entries)
		file.Body = urlset(parts[part-1])
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

// sitemapEntries lists the URLs of every visible, indexable entity, sorted
// by path so that the split into files is stable.
func (s *Server) sitemapEntries(ctx context.Context) ([]sitemapEntry, error) {
	cur, err := s.entities.Find(ctx, bson.D{{Key: "published", Value: true}},
		options.Find().SetProjection(bson.D{
			{Key: "kind", Value: 1}, {Key: "entity_id", Value: 1}, {Key: "path", Value: 1},
			{Key: "deleted", Value: 1}, {Key: "published", Value: 1}, {Key: "visible_from", Value: 1},
			{Key: "explicit", Value: 1}, {Key: "last_mod", Value: 1},
		}))
	if err != nil {
		return nil, fmt.Errorf("seo: sitemap: %w", err)
	}
	defer cur.Close(ctx)
	var entries []sitemapEntry
	for cur.Next(ctx) {
		var d entityDoc
		if err := cur.Decode(&d); err != nil {
			return nil, fmt.Errorf("seo: sitemap: %w", err)
		}
		if !s.visible(&d) || noindex(d.Explicit.Robots) {
			continue
		}
		loc := s.absolute(d.Path)
		if c := d.Explicit.Canonical; c != "" && s.absolute(c) != loc {
			continue // the canonical URL is listed by the entity living there
		}
		if len(loc) > MaxURLLen {
			continue
		}
		var b strings.Builder
		b.WriteString("<url><loc>")
		_ = xml.EscapeText(&b, []byte(loc))
		b.WriteString("</loc>")
		lastMod := d.LastMod.UTC()
		if !lastMod.IsZero() {
			b.WriteString("<lastmod>" + lastMod.Format(time.RFC3339) + "</lastmod>")
		}
		b.WriteString("</url>\n")
		entries = append(entries, sitemapEntry{path: d.Path, xml: b.String(), lastMod: lastMod})
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("seo: sitemap: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].path < entries[j].path })
	return entries, nil
}

// split cuts entries into files of at most SitemapMaxURLs URLs and
// SitemapMaxBytes bytes. There is always at least one file.
func (s *Server) split(entries []sitemapEntry) []sitemapPart {
	overhead := len(xmlHeader) + len(urlsetOpen) + len(urlsetClose)
	parts := []sitemapPart{{size: overhead}}
	for _, e := range entries {
		p := &parts[len(parts)-1]
		if len(p.entries) > 0 && (len(p.entries) >= s.opts.SitemapMaxURLs || p.size+len(e.xml) > s.opts.SitemapMaxBytes) {
			parts = append(parts, sitemapPart{size: overhead})
			p = &parts[len(parts)-1]
		}
		p.entries = append(p.entries, e)
		p.size += len(e.xml)
		if e.lastMod.After(p.lastMod) {
			p.lastMod = e.lastMod
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
		b.WriteString(e.xml)
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
