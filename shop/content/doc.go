// Package content groups the two content services of shopbus:
//
//   - [github.com/shopbus/shopbus/shop/content/article]: editorial content
//     and blog posts (Markdown bodies with a safe HTML renderer, slugs,
//     tags, drafts and publication), announced as article.article.* events.
//   - [github.com/shopbus/shopbus/shop/content/seo]: metadata (title,
//     description, canonical URL, robots, Open Graph) for products,
//     categories, articles and content pages, defaults derived from the
//     other services' events, permanent redirects for changed slugs, and
//     the sitemap.
//
// Both follow the shape of every shopbus service: New(db, Options) for the
// MongoDB implementation, NewClient(bus) for the typed client, and
// Bind(bus, svc) to serve an implementation on the bus.
package content
