package filter

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// TestBatchTakesStoredNewerVersions: a batch whose first versions meet
// newer ones in the database (stored by a replica sharing it) applies the
// stored ones, as one event at a time does; each event gets its own
// result and is counted once.
func TestBatchTakesStoredNewerVersions(t *testing.T) {
	ctx := context.Background()
	db := testenv.MongoDB(t, "filter_batch_replica")
	open := func() *Server {
		s, err := New(db, Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	productEv := func(id, title string, version int64) transport.Event {
		body, _ := json.Marshal(shop.ProductChanged{Product: shop.ProductSnapshot{
			ID: id, Title: title, Status: shop.StatusPublished, SKU: "SKU-" + id,
			Price: shop.Money{Amount: 100, Currency: "EUR"}, Version: version, UpdatedAt: at,
		}})
		return transport.Event{ID: id + title, Key: shop.EventProductUpdated, Body: body}
	}
	stock := func(sku string, available, version int64) transport.Event {
		body, _ := json.Marshal(shop.StockChanged{SKU: sku, Available: available, Version: version})
		return transport.Event{Key: shop.EventStockChanged, Body: body}
	}
	category := func(id, name string, version int64) transport.Event {
		body, _ := json.Marshal(shop.CategoryChanged{Category: shop.CategorySnapshot{ID: id, Slug: id, Name: name, Version: version}})
		return transport.Event{Key: shop.EventCategoryUpdated, Body: body}
	}

	// A replica stored newer versions that this server has not heard of.
	s := open()
	replica := open()
	for _, ev := range []transport.Event{productEv("x", "X v2", 2), stock("SKU-x", 0, 2), category("c", "C v3", 3)} {
		if err := replica.handleEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}

	errs := s.handleEvents(ctx, []transport.Event{
		productEv("x", "X v1", 1),    // stored: v2
		productEv("y", "Y v1", 1),    // new
		stock("SKU-x", 4, 1),         // stored: v2
		stock("SKU-y", 4, 1),         // new
		category("c", "C v1", 1),     // stored: v3
		productEv("y", "Y again", 1), // the same version again: superseded
		{Key: shop.EventProductUpdated, Body: []byte(`{"product":7}`)},
		{Key: "seo.page.updated", Body: []byte(`{}`)}, // not for this service
	})
	for i, err := range errs {
		if (err != nil) != (i == 6) {
			t.Errorf("event %d: %v", i, err)
		}
	}
	if got, want := s.EventStats(), (EventStats{Applied: 5, Ignored: 2, Failed: 1}); got != want {
		t.Errorf("counted %+v, want %+v", got, want)
	}
	res, err := s.Query(ctx, Query{Sort: SortTitle})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 2 || res.Items[0].Title != "X v2" || res.Items[1].Title != "Y v1" {
		t.Errorf("products %+v, want X v2 (as stored) and Y v1", res.Items)
	}
	if s.idx.InStock("x") || !s.idx.InStock("y") {
		t.Error("x's stock is not the stored one (none), or y's (4) is not applied")
	}
	if c := s.idx.cats["c"]; c == nil || c.name != "C v3" {
		t.Errorf("category c: %+v, want the stored C v3", c)
	}
	// The database kept the newer versions.
	if p, err := loadStored[product](ctx, s.products, "x"); err != nil || p.Version != 2 {
		t.Errorf("stored x: %+v %v", p, err)
	}
}
