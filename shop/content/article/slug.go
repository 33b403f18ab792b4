package article

import "github.com/shopbus/shopbus/shop"

// validSlug reports whether s is a well-formed article slug: what
// shop.Slugify makes, at most MaxSlugLen bytes (see shop.ValidSlug).
func validSlug(s string) bool { return shop.ValidSlug(s, MaxSlugLen) }
