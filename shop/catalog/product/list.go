package product

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/audit"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/internal/kit"
)

// cursor is the position after the last item of a page. It travels as
// base64url JSON; clients treat it as opaque.
type cursor struct {
	Sort   string `json:"s"`
	Desc   bool   `json:"d,omitempty"`
	Filter string `json:"f,omitempty"` // status and category the listing was made with
	Text   string `json:"t,omitempty"` // title key
	Num    int64  `json:"n,omitempty"` // created_at in ms, or price amount
	ID     string `json:"i"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, false
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || !kit.ValidID(c.ID) {
		return cursor{}, false
	}
	return c, true
}

// List implements Service.
func (s *Server) List(ctx context.Context, r ListRequest) (Page, error) {
	var f kit.Fields
	if r.Sort == "" {
		r.Sort = SortCreated
	}
	var field string
	switch r.Sort {
	case SortCreated:
		field = "created_at"
	case SortTitle:
		field = "title_key"
	case SortPrice:
		field = "price.amount"
	default:
		f.Add("sort", "must be created_at, title or price")
	}
	switch {
	case r.Limit == 0:
		r.Limit = DefaultPageSize
	case r.Limit < 0 || r.Limit > MaxPageSize:
		f.Addf("limit", "must be 1-%d", MaxPageSize)
	}
	switch r.Status {
	case "", shop.StatusDraft, shop.StatusPublished:
	default:
		f.Add("status", "must be draft, published or empty")
	}
	f.ID("category_id", r.CategoryID, false)
	filterKey := r.Status + "|" + r.CategoryID
	var after cursor
	if r.Cursor != "" {
		c, ok := decodeCursor(r.Cursor)
		switch {
		case len(r.Cursor) > 1024 || !ok:
			f.Add("cursor", "malformed cursor")
		case c.Sort != r.Sort || c.Desc != r.Desc || c.Filter != filterKey:
			f.Add("cursor", "was made for another sort order or filter")
		}
		after = c
	}
	if err := f.Err("invalid product listing"); err != nil {
		return Page{}, err
	}

	filter := bson.D{{Key: "deleted", Value: bson.D{{Key: "$ne", Value: true}}}}
	if r.Status != "" {
		filter = append(filter, bson.E{Key: "status", Value: r.Status})
	}
	if r.CategoryID != "" {
		filter = append(filter, bson.E{Key: "category_ids", Value: r.CategoryID})
	}
	if r.Cursor != "" {
		var key any
		switch r.Sort {
		case SortCreated:
			key = time.UnixMilli(after.Num).UTC()
		case SortTitle:
			key = after.Text
		case SortPrice:
			key = after.Num
		}
		op := "$gt"
		if r.Desc {
			op = "$lt"
		}
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: field, Value: bson.D{{Key: op, Value: key}}}},
			bson.D{{Key: field, Value: key}, {Key: "_id", Value: bson.D{{Key: op, Value: after.ID}}}},
		}})
	}
	dir := 1
	if r.Desc {
		dir = -1
	}
	cur, err := s.products.Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: field, Value: dir}, {Key: "_id", Value: dir}}).
		SetLimit(int64(r.Limit)+1).
		// A page shows neither the audit logs nor waiting events: up to 20
		// entries and a whole product per event, per product listed.
		SetProjection(bson.D{{Key: audit.Field, Value: 0}, {Key: "outbox", Value: 0}}))
	if err != nil {
		return Page{}, kit.Internal("list products", err)
	}
	var docs []productDoc
	if err := cur.All(ctx, &docs); err != nil {
		return Page{}, kit.Internal("read products", err)
	}
	page := Page{Items: make([]Product, 0, min(len(docs), r.Limit))}
	for i := range docs {
		if i == r.Limit {
			last := docs[i-1]
			c := cursor{Sort: r.Sort, Desc: r.Desc, Filter: filterKey, ID: last.ID}
			switch r.Sort {
			case SortCreated:
				c.Num = last.CreatedAt.UnixMilli()
			case SortTitle:
				c.Text = last.TitleKey
			case SortPrice:
				c.Num = last.Price.Amount
			}
			page.NextCursor = c.encode()
			break
		}
		page.Items = append(page.Items, docs[i].product())
	}
	return page, nil
}
