package kit

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

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
	base := s.firstCandidate(SlugClaim{Name: name})
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

// SlugClaim is one slug of a ReserveMany: for the entity ID, Explicit
// when it is not empty, or else one made from Name (see Reserve).
type SlugClaim struct {
	ID, Explicit, Name string
}

// SlugReserved is the outcome of one SlugClaim: the slug reserved, or
// why none is (a conflict).
type SlugReserved struct {
	Slug string
	Err  error
}

// reserveManyWorkers is how many of a ReserveMany's claims that need
// another candidate are reserved at once.
const reserveManyWorkers = 8

// ReserveMany reserves a slug for each claim, with the outcome Reserve
// would give each, made one after the other in order: the claims whose
// first candidate (the explicit slug, or the name's) no earlier claim of
// the call wants are made together, with one insert here and one
// shop.SlugSpace.CheckMany; the others, and those whose candidate is
// taken, then go through Reserve, those of one candidate one after the
// other in order (so numbered as one after the other).
//
// It returns an error, holding none of the call's slugs any more, when a
// slug could not be claimed or checked (the store or another service
// failed); conflicts are per claim.
func (s Slugs) ReserveMany(ctx context.Context, claims []SlugClaim) ([]SlugReserved, error) {
	out := make([]SlugReserved, len(claims))
	var held []int // the claims holding out[i].Slug
	fail := func(err error) ([]SlugReserved, error) {
		for _, i := range held {
			if rerr := s.Release(ctx, out[i].Slug, claims[i].ID); rerr != nil {
				err = errors.Join(err, Internal("release slug", rerr))
			}
		}
		return nil, err
	}

	// 1. Each distinct first candidate, claimed by the first claim trying
	// it, all with one insert; a slug found taken by the claim's own id
	// (a retry of the request) is held too.
	later := make([]bool, len(claims)) // to go through Reserve
	var together []int
	var docs []any
	tried := map[string]bool{}
	for i, c := range claims {
		cand := s.firstCandidate(c)
		if tried[cand] {
			later[i] = true
			continue
		}
		tried[cand] = true
		out[i].Slug = cand
		together = append(together, i)
		docs = append(docs, bson.D{{Key: "_id", Value: cand}, {Key: s.owner, Value: c.ID}})
	}
	inserted, err := docstore.InsertEach(ctx, s.coll, docs)
	if err != nil {
		return fail(Internal("reserve slugs", err))
	}
	var taken []string
	for k, i := range together {
		if inserted[k] {
			held = append(held, i)
		} else {
			taken = append(taken, out[i].Slug)
		}
	}
	holders, err := s.holders(ctx, taken)
	if err != nil {
		return fail(err)
	}
	for k, i := range together {
		if inserted[k] {
			continue
		}
		switch holder, found := holders[out[i].Slug]; {
		case found && holder == claims[i].ID:
			held = append(held, i)
		case found && claims[i].Explicit != "":
			out[i] = SlugReserved{Err: shop.Conflict("slug " + Quote(claims[i].Explicit) + " is taken")}
		default:
			later[i] = true
		}
	}

	// 2. The other services of the space, asked about all at once.
	claimed := make([]string, len(held))
	for k, i := range held {
		claimed[k] = out[i].Slug
	}
	conflicts, err := s.space.CheckMany(ctx, claimed)
	if err != nil {
		return fail(err)
	}
	kept := held[:0]
	for k, i := range held {
		cerr := conflicts[out[i].Slug]
		if cerr == nil {
			kept = append(kept, i)
			continue
		}
		if err := s.Release(ctx, out[i].Slug, claims[i].ID); err != nil {
			held = append(kept, held[k+1:]...) // those still held, to release
			return fail(errors.Join(cerr, Internal("release slug", err)))
		}
		if claims[i].Explicit != "" {
			out[i] = SlugReserved{Err: cerr}
		} else {
			later[i] = true
		}
	}
	held = kept

	// 3. The rest through Reserve, those of one first candidate one after
	// the other, in order.
	var groups [][]int
	group := map[string]int{}
	for i, c := range claims {
		if !later[i] {
			continue
		}
		out[i].Slug = ""
		cand := s.firstCandidate(c)
		g, ok := group[cand]
		if !ok {
			g = len(groups)
			group[cand] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	var mu sync.Mutex
	var eg errgroup.Group
	eg.SetLimit(reserveManyWorkers)
	for _, g := range groups {
		eg.Go(func() error {
			for _, i := range g {
				c := claims[i]
				slug, err := s.Reserve(ctx, c.ID, c.Explicit, c.Name)
				switch {
				case err == nil:
					out[i].Slug = slug
					mu.Lock()
					held = append(held, i)
					mu.Unlock()
				case errors.Is(err, shop.ErrConflict) || errors.Is(err, shop.ErrInvalid):
					out[i].Err = err
				default:
					return err
				}
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return fail(err)
	}
	return out, nil
}

// firstCandidate is the first slug Reserve tries for c.
func (s Slugs) firstCandidate(c SlugClaim) string {
	if c.Explicit != "" {
		return c.Explicit
	}
	if base := shop.Slugify(c.Name); base != "" {
		return base
	}
	return s.fallback
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

// Held returns those of slugs held here (claims in progress included),
// in the order given, with one find (see holders).
func (s Slugs) Held(ctx context.Context, slugs []string) ([]string, error) {
	holders, err := s.holders(ctx, slugs)
	if err != nil {
		return nil, err
	}
	held := make([]string, 0, len(holders))
	for _, slug := range slugs {
		if _, ok := holders[slug]; ok {
			held = append(held, slug)
		}
	}
	return held, nil
}

// holders returns the id holding each of slugs held here, with one find:
// _id in the list, an index lookup on MongoDB (FerretDB reads the whole
// collection for it).
func (s Slugs) holders(ctx context.Context, slugs []string) (map[string]string, error) {
	out := make(map[string]string, len(slugs))
	if len(slugs) == 0 {
		return out, nil
	}
	found, err := List[bson.M](ctx, s.coll, "slugs", bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: slugs}}}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: s.owner, Value: 1}}))
	if err != nil {
		return nil, err
	}
	for _, d := range found {
		slug, _ := d["_id"].(string)
		id, _ := d[s.owner].(string)
		out[slug] = id
	}
	return out, nil
}

// HoldsSlugs answers shop.SlugHolder.HoldsSlugs from the slugs kept here.
func (s Slugs) HoldsSlugs(ctx context.Context, r shop.SlugsRequest) (shop.SlugsHeld, error) {
	slugs, err := shop.CheckSlugsRequest(r, ValidSlug)
	if err != nil {
		return shop.SlugsHeld{}, err
	}
	held, err := s.Held(ctx, slugs)
	return shop.SlugsHeld{Held: held}, err
}

// Release frees slug if id holds it. It goes on when ctx is cancelled, for
// up to 10 seconds: the change that freed the slug is stored already.
func (s Slugs) Release(ctx context.Context, slug, id string) error {
	ctx, cancel := Detach(ctx, 10*time.Second)
	defer cancel()
	_, err := docstore.Delete(ctx, s.coll, slug, docstore.Equal(s.owner, id))
	return err
}
