package shop

import (
	"context"
	"fmt"
	"slices"

	"github.com/shopbus/shopbus/transport"
)

// ValidSlug reports whether s is a slug as the services make them: ASCII
// lower-case letters and digits in words joined by single hyphens, at
// most maxLen bytes.
func ValidSlug(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && s[i-1] != '-':
		default:
			return false
		}
	}
	return true
}

// SlugRequest names a slug.
type SlugRequest struct {
	Slug string `json:"slug"`
}

// SlugHeld answers whether a service holds a slug.
type SlugHeld struct {
	Held bool `json:"held"`
}

// SlugHolder is a service whose entities are pages addressed by slug. The
// storefront serves products, categories and articles from one URL space
// (/{slug}), so each of these services also answers whether it holds a
// slug, and checks the others before it claims one.
type SlugHolder interface {
	// HoldsSlug reports whether one of the service's entities, in any
	// status, holds the slug or is claiming it.
	HoldsSlug(ctx context.Context, r SlugRequest) (SlugHeld, error)
}

// SlugSpace names the other services sharing a service's URL space, by
// the kind of their pages (e.g. "category" → the category client). The
// zero value shares with nobody: slugs are unique within the service only.
type SlugSpace map[string]SlugHolder

// Check returns nil when no service in the space holds slug, a conflict
// (with a field error on "slug") naming the kind of page that does, or
// the error of a service that could not answer (e.g. unavailable): a slug
// that cannot be checked is not claimed. Services check before they claim,
// so two services claiming one slug at the same instant can both win; the
// storefront then shows the product, then the category, then the article.
func (sp SlugSpace) Check(ctx context.Context, slug string) error {
	kinds := make([]string, 0, len(sp))
	for kind := range sp {
		kinds = append(kinds, kind)
	}
	slices.Sort(kinds)
	for _, kind := range kinds {
		held, err := sp[kind].HoldsSlug(ctx, SlugRequest{Slug: slug})
		if err != nil {
			return fmt.Errorf("checking slug %q with the %s service: %w", slug, kind, err)
		}
		if held.Held {
			return &Error{Code: transport.CodeConflict, Message: "slug is used by a " + kind,
				Fields: []FieldError{{Field: "slug", Message: fmt.Sprintf("%q is the address of a %s", slug, kind)}}}
		}
	}
	return nil
}
