package storefront

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/article"
)

// LoginResult is the body of a successful POST /api/login. The session
// token is not in it: it travels only in the HttpOnly cookie.
type LoginResult struct {
	User      shop.Principal `json:"user"`
	ExpiresAt time.Time      `json:"expires_at"`
}

// CartItem is the body of POST /api/cart/items.
type CartItem struct {
	ProductID string `json:"product_id"`
	VariantID string `json:"variant_id,omitempty"`
	Quantity  int    `json:"quantity"`
}

// Quantity is the body of PUT /api/cart/items/{product_id}.
type Quantity struct {
	Quantity int `json:"quantity"`
}

// ArticleView is an article as GET /api/articles/{slug} returns it: with
// its Markdown body rendered to safe HTML.
type ArticleView struct {
	article.Article
	HTML string `json:"html"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeAPIError(w, nil, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// decode reads a JSON request body into v: the content type must be JSON
// (a cross-site HTML form cannot send that), the body one JSON value.
func decode(r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return shop.Invalid("unsupported content type", "Content-Type", "must be application/json")
	}
	dec := json.NewDecoder(r.Body)
	// A misspelt field is an error, not a silent default ("category"
	// for "category_slug" would list the whole catalogue). The bus keeps
	// a tolerant reader for rolling upgrades; the API is for clients.
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return shop.Invalid("malformed request", strings.Trim(name, `"`), "is not a field of this request")
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return formError(err) // 413
		}
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return shop.Invalid("malformed request", typeErr.Field, "has the wrong type")
		}
		return shop.Invalid("malformed request", "body", "must be a JSON object")
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		return shop.Invalid("malformed request", "body", "must hold one JSON value")
	}
	return nil
}

// ---- accounts ----

func (s *Storefront) apiRegister(w http.ResponseWriter, r *http.Request) {
	var req auth.RegisterRequest
	if err := decode(r, &req); err != nil {
		s.apiFail(w, r, err)
		return
	}
	err := s.limits.admitRegister(r)
	var u auth.User
	if err == nil {
		u, err = s.auth.Register(accountContext(r, req.Email), req)
	}
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

func (s *Storefront) apiLogin(w http.ResponseWriter, r *http.Request) {
	var req auth.LoginRequest
	if err := decode(r, &req); err != nil {
		s.apiFail(w, r, err)
		return
	}
	p, sess, err := s.login(w, r, req.Email, req.Password)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, LoginResult{User: p, ExpiresAt: sess.ExpiresAt})
}

func (s *Storefront) apiLogout(w http.ResponseWriter, r *http.Request) {
	if err := s.logout(w, r); err != nil {
		s.apiFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Storefront) apiMe(w http.ResponseWriter, r *http.Request) {
	v := s.identify(w, r)
	if v.unsure {
		s.apiFail(w, r, errSessionUnknown)
		return
	}
	if v.user == nil {
		writeAPIError(w, r, shop.Unauthenticated("not logged in"))
		return
	}
	writeJSON(w, http.StatusOK, v.user)
}

// ---- catalogue ----

func (s *Storefront) apiCategories(w http.ResponseWriter, r *http.Request) {
	trees, err := s.cats.Tree(r.Context(), category.TreeRequest{})
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	if trees == nil {
		trees = []category.Node{}
	}
	writeJSON(w, http.StatusOK, trees)
}

func (s *Storefront) apiCategory(w http.ResponseWriter, r *http.Request) {
	c, err := s.cats.GetBySlug(r.Context(), category.GetBySlugRequest{Slug: r.PathValue("slug")})
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Storefront) apiProducts(w http.ResponseWriter, r *http.Request) {
	q, err := ParseQuery(r.URL.Query())
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.query(w, r, q)
}

func (s *Storefront) apiFilter(w http.ResponseWriter, r *http.Request) {
	var q filter.Query
	if err := decode(r, &q); err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.query(w, r, q)
}

func (s *Storefront) query(w http.ResponseWriter, r *http.Request, q filter.Query) {
	res, err := s.filter.Query(r.Context(), q)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// ProductView is a product as GET /api/products/{slug} returns it: with
// its stock (see LowStock), which is left out when the inventory service
// did not answer in time.
type ProductView struct {
	product.Product
	// Stock is the product's: the units of all its variants together
	// (sold out when none has any).
	Stock *StockLevel `json:"stock,omitempty"`
	// VariantStock is each variant's, by variant id.
	VariantStock map[string]StockLevel `json:"variant_stock,omitempty"`
}

func (s *Storefront) apiProduct(w http.ResponseWriter, r *http.Request) {
	slug := r.PathValue("slug")
	var call *stockCall
	if skus, ok := s.memo.productSKUs(slug); ok && len(skus) > 0 {
		call = s.startStock(publicContext(r.Context()), skus) // with the product, not after it
	}
	p, err := s.publishedProduct(r.Context(), slug)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	v := ProductView{Product: p}
	if st := s.productStock(r, p, call); st != nil {
		l := st.product(p)
		v.Stock = &l
		if len(p.Variants) > 0 {
			v.VariantStock = make(map[string]StockLevel, len(p.Variants))
			for _, va := range p.Variants {
				v.VariantStock[va.ID] = stockLevel(st[va.SKU])
			}
		}
	}
	writeJSON(w, http.StatusOK, v)
}

// ---- cart ----

func (s *Storefront) apiCart(w http.ResponseWriter, r *http.Request) {
	c, err := s.getCart(w, r)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Storefront) apiCartAdd(w http.ResponseWriter, r *http.Request) {
	var item CartItem
	if err := decode(r, &item); err != nil {
		s.apiFail(w, r, err)
		return
	}
	c, err := s.addToCart(w, r, cart.AddItemRequest{ProductID: item.ProductID, VariantID: item.VariantID, Quantity: item.Quantity})
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Storefront) apiCartUpdate(w http.ResponseWriter, r *http.Request) {
	var q Quantity
	if err := decode(r, &q); err != nil {
		s.apiFail(w, r, err)
		return
	}
	c, err := s.updateCart(w, r, r.PathValue("product"), r.URL.Query().Get("variant_id"), q.Quantity)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Storefront) apiCartRemove(w http.ResponseWriter, r *http.Request) {
	c, err := s.removeFromCart(w, r, r.PathValue("product"), r.URL.Query().Get("variant_id"))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// ---- articles ----

func (s *Storefront) apiArticles(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := article.ListRequest{Tag: q.Get("tag"), Cursor: q.Get("cursor")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			s.apiFail(w, r, shop.Invalid("invalid article query", "limit", "must be a whole number"))
			return
		}
		req.Limit = n
	}
	res, err := s.article.List(r.Context(), req)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	if res.Articles == nil {
		res.Articles = []article.Article{}
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Storefront) apiArticle(w http.ResponseWriter, r *http.Request) {
	a, err := s.article.GetBySlug(r.Context(), article.GetBySlugRequest{Slug: r.PathValue("slug")})
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ArticleView{Article: a, HTML: string(article.RenderHTML(a.Body))})
}
