package seo

import (
	"context"
	"time"

	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// EventBatch is how many waiting events one run of the subscription
// applies at once (see HandleEvents).
const EventBatch = 50

// HandleEvents implements transport.BatchEventHandler: it applies the
// events as HandleEvent applies each, and the first versions of entities
// it has no record of (a bulk import, a seed) with two inserts for all of
// them, their paths and their records, instead of a lookup and two writes
// each. Any other event is applied on its own, in the order delivered.
func (s *Server) HandleEvents(ctx context.Context, evs []transport.Event) []error {
	errs := make([]error, len(evs))
	ups := make([]*entityUpdate, len(evs))
	keys := map[string]int{} // entity key -> events of it in the batch
	for i, ev := range evs {
		ups[i], errs[i] = s.update(ev)
		if u := ups[i]; u != nil {
			keys[entityKey(u.kind, u.id)]++
		}
	}
	var fresh []int
	for i, u := range ups {
		if u != nil && u.version == 1 && !u.deleted && u.oldSlug == "" && keys[entityKey(u.kind, u.id)] == 1 {
			fresh = append(fresh, i)
		}
	}
	inserted, err := s.insertFresh(ctx, ups, fresh)
	failed := map[int]bool{}
	if err != nil { // each is retried, and then applied on its own
		for _, i := range fresh {
			errs[i], failed[i] = err, true
		}
	}
	for i, u := range ups {
		if u != nil && !inserted[i] && !failed[i] {
			errs[i] = s.apply(ctx, *u)
		}
	}
	return errs
}

// insertFresh stores the entities of ups[fresh] (first versions, one per
// entity) with one insert of their paths and one of their records, and
// reports which it stored; those it did not (a record exists: a
// redelivery, a replica) are left to apply.
func (s *Server) insertFresh(ctx context.Context, ups []*entityUpdate, fresh []int) (map[int]bool, error) {
	inserted := map[int]bool{}
	if len(fresh) < 2 {
		return inserted, nil // apply costs the same
	}
	now := s.now()
	paths := make([]any, len(fresh))
	docs := make([]*entityDoc, len(fresh))
	for k, i := range fresh {
		u := ups[i]
		key := entityKey(u.kind, u.id)
		d := &entityDoc{ID: key, Kind: u.kind, EntityID: u.id, Version: u.version, UpdatedAt: now,
			LastMod: u.lastMod.UTC().Truncate(time.Millisecond), Rev: 1}
		s.fill(d, *u)
		docs[k] = d
		paths[k] = pathDoc{Path: d.Path, Entity: key, UpdatedAt: now}
	}
	// Paths first, as apply does. A path held already is taken over, as
	// apply's claim does.
	ok, err := docstore.InsertEach(ctx, s.paths, paths)
	if err != nil {
		return inserted, shop.StorageFailure(ctx, "seo: claim paths", err)
	}
	for k, in := range ok {
		if !in {
			if err := s.claimPath(ctx, docs[k].Path, docs[k].ID, true); err != nil {
				return inserted, err
			}
		}
	}
	records := make([]any, len(docs))
	for k, d := range docs {
		records[k] = d
	}
	ok, err = docstore.InsertEach(ctx, s.entities, records)
	if err != nil {
		return inserted, shop.StorageFailure(ctx, "seo: insert entities", err)
	}
	for k, in := range ok {
		if in {
			inserted[fresh[k]] = true
			s.sitemap.note(docs[k])
		}
	}
	return inserted, nil
}
