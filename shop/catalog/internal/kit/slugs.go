package kit

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/internal/keylock"
	"github.com/shopbus/shopbus/shop"
)

// Slugs keeps the slugs of one kind of entity unique: a collection keyed
// by the slug (_id) whose documents name the entity holding it, and hold
// the counters of numbered slugs (see Reserve) under ids that are no
// slugs.
type Slugs struct {
	coll     *mongo.Collection
	owner    string
	fallback string
	space    shop.SlugSpace
	// counters serialises the suffix counters within the process (FerretDB
	// reads and then writes an $inc: two at once can give one number).
	counters *keylock.Map
}

// NewSlugs returns the slugs kept in coll, each naming its holder's id in
// the field owner (e.g. "product_id"). A generated slug starts from
// fallback (e.g. "product") when the name gives none.
func NewSlugs(coll *mongo.Collection, owner, fallback string) Slugs {
	return Slugs{coll: coll, owner: owner, fallback: fallback, counters: new(keylock.Map)}
}

// Sharing returns s checking the other services of space before it
// claims a slug (see shop.SlugSpace).
func (s Slugs) Sharing(space shop.SlugSpace) Slugs {
	s.space = space
	return s
}

// Reserve claims a slug for id: explicit when it is not empty (taken here
// or in the shared space: a conflict), or else one made from name by
// shop.Slugify (the fallback when that is empty), with a suffix when
// taken. A slug id holds already (left by an earlier run of the same
// request) counts as free.
//
// A claim inserts the slug here first and then asks the other services of
// the space, at once (shop.SlugSpace.Check); when one of them holds the
// slug, the claim is released. As the other services do the same, two of
// them claiming one slug at the same instant cannot both keep it: the one
// that asks last sees the other's claim.
//
// When the name's slug is taken, the next candidate is "<slug>-<n>" with n
// from a counter kept per slug in the collection (2, 3, …), so the 60th
// product of one title costs two claims, not 60; after two taken
// candidates (slugs given explicitly, or made before the counter), a
// random suffix. Each claim costs one insert and one round of calls to
// the other services.
func (s Slugs) Reserve(ctx context.Context, id, explicit, name string) (string, error) {
	if explicit != "" {
		err := s.claim(ctx, explicit, id)
		if errors.Is(err, errSlugTaken) {
			return "", shop.Conflict("slug " + Quote(explicit) + " is taken")
		}
		if err != nil {
			return "", err
		}
		return explicit, nil
	}
	base := shop.Slugify(name)
	if base == "" {
		base = s.fallback
	}
	slug := base
	for attempt := 1; ; attempt++ {
		err := s.claim(ctx, slug, id)
		if err == nil {
			return slug, nil
		}
		if !errors.Is(err, errSlugTaken) && !errors.Is(err, shop.ErrConflict) {
			return "", err
		}
		var suffix string
		switch {
		case attempt > maxSlugAttempts:
			return "", shop.Conflict("no free slug for " + Quote(base))
		case attempt <= 3:
			n, err := s.nextSuffix(ctx, base)
			if err != nil {
				return "", err
			}
			suffix = strconv.FormatInt(n, 10)
		default:
			suffix = randomSuffix()
		}
		slug = shop.WithSlugSuffix(base, suffix)
	}
}

// maxSlugAttempts bounds the claims of one generated slug.
const maxSlugAttempts = 6

// errSlugTaken: another entity of this kind holds the slug.
var errSlugTaken = errors.New("slug taken")

// claim claims slug for id here, then checks the shared space; it fails
// with errSlugTaken when another entity here holds the slug, with the
// space's conflict when another kind of page does (the claim released),
// or with the error of a service that could not answer.
func (s Slugs) claim(ctx context.Context, slug, id string) error {
	err := s.insert(ctx, slug, id)
	if mongo.IsDuplicateKeyError(err) {
		return errSlugTaken
	}
	if err != nil {
		return Internal("reserve slug", err)
	}
	if err := s.space.Check(ctx, slug); err != nil {
		if rerr := s.Release(ctx, slug, id); rerr != nil {
			return errors.Join(err, Internal("release slug", rerr))
		}
		return err
	}
	return nil
}

// nextSuffix counts the suffixes handed out for base and returns the next
// one: 2, 3, … The counter is a document of the slugs collection whose _id,
// "<base> #", is no slug. Where the store does not apply an $inc
// atomically (FerretDB) and two processes count at once, both may get one
// number: the claim of the second fails and Reserve takes another.
func (s Slugs) nextSuffix(ctx context.Context, base string) (int64, error) {
	var d struct {
		N int64 `bson:"n"`
	}
	defer s.counters.Lock(base)()
	var err error
	for range 3 { // two first upserts at once: one fails with a duplicate key
		err = s.coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: base + " #"}},
			bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: int64(1)}}}},
			options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&d)
		if !mongo.IsDuplicateKeyError(err) {
			break
		}
	}
	if err != nil {
		return 0, Internal("count slug suffixes", err)
	}
	return d.N + 1, nil
}

// randomSuffix returns six random letters and digits.
func randomSuffix() string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 6)
	for i := range b {
		b[i] = digits[rand.IntN(len(digits))]
	}
	return string(b)
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
