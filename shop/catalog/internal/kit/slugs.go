package kit

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/shop"
)

// Slugs keeps the slugs of one kind of entity unique: a collection keyed
// by the slug (_id) whose documents name the entity holding it.
type Slugs struct {
	coll     *mongo.Collection
	owner    string
	fallback string
	space    shop.SlugSpace
}

// NewSlugs returns the slugs kept in coll, each naming its holder's id in
// the field owner (e.g. "product_id"). A generated slug starts from
// fallback (e.g. "product") when the name gives none.
func NewSlugs(coll *mongo.Collection, owner, fallback string) Slugs {
	return Slugs{coll: coll, owner: owner, fallback: fallback}
}

// Sharing returns s checking the other services of space before it
// claims a slug (see shop.SlugSpace).
func (s Slugs) Sharing(space shop.SlugSpace) Slugs {
	s.space = space
	return s
}

// Reserve claims a slug for id: explicit when it is not empty (taken here
// or in the shared space: a conflict), or else one generated from name,
// with a numeric suffix while taken. A slug id holds already (left by an
// earlier run of the same request) counts as free.
func (s Slugs) Reserve(ctx context.Context, id, explicit, name string) (string, error) {
	if explicit != "" {
		if err := s.space.Check(ctx, explicit); err != nil {
			return "", err
		}
		err := s.insert(ctx, explicit, id)
		if mongo.IsDuplicateKeyError(err) {
			return "", shop.Conflict("slug " + Quote(explicit) + " is taken")
		}
		if err != nil {
			return "", Internal("reserve slug", err)
		}
		return explicit, nil
	}
	base := Slugify(name)
	if base == "" {
		base = s.fallback
	}
	for n := 1; n <= 50; n++ {
		slug := base
		if n > 1 {
			slug = WithSuffix(base, n)
		}
		if n == 50 {
			slug = WithSuffix(base, int(uuid.New().ID()%1_000_000_000))
		}
		err := s.space.Check(ctx, slug)
		if errors.Is(err, shop.ErrConflict) {
			continue // another kind of page has it
		}
		if err != nil {
			return "", err
		}
		err = s.insert(ctx, slug, id)
		if err == nil {
			return slug, nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return "", Internal("reserve slug", err)
		}
	}
	return "", shop.Conflict("no free slug for " + Quote(base))
}

// insert claims slug for id; it is a duplicate key error when another
// entity holds it.
func (s Slugs) insert(ctx context.Context, slug, id string) error {
	_, err := s.coll.InsertOne(ctx, bson.D{{Key: "_id", Value: slug}, {Key: s.owner, Value: id}})
	if !mongo.IsDuplicateKeyError(err) {
		return err
	}
	if holder, herr := s.Holder(ctx, slug); herr == nil && holder == id {
		return nil
	}
	return err
}

// Holder returns the id of the entity holding slug, or "" when none does.
func (s Slugs) Holder(ctx context.Context, slug string) (string, error) {
	var d bson.M
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: slug}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", nil
	}
	if err != nil {
		return "", Internal("find slug", err)
	}
	id, _ := d[s.owner].(string)
	return id, nil
}

// Release frees slug if id holds it. It goes on when ctx is cancelled, for
// up to 10 seconds: the change that freed the slug is stored already.
func (s Slugs) Release(ctx context.Context, slug, id string) error {
	ctx, cancel := Detach(ctx, 10*time.Second)
	defer cancel()
	_, err := docstore.Delete(ctx, s.coll, slug, docstore.Equal(s.owner, id))
	return err
}
