package cart_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/idem/idemtest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/transport"
)

// TestRequestsApplyOnce sends every state-changing method twice with one
// request id: the repeat answers the same and changes nothing.
func TestRequestsApplyOnce(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, cart.Options{})
		p := e.product(t, "Mug", 900)
		n := 0
		customer := func(t *testing.T) context.Context {
			n++
			ctx, _ := e.auth.NewCustomer(t, fmt.Sprintf("c%d@shop.test", n), "")
			return ctx
		}
		// withLine is a customer whose cart holds one mug.
		withLine := func(t *testing.T) context.Context {
			ctx := customer(t)
			if _, err := e.cart.AddItem(ctx, cart.AddItemRequest{ProductID: p.ID, Quantity: 1}); err != nil {
				t.Fatal(err)
			}
			return ctx
		}
		item := fmt.Sprintf(`{"product_id":%q,"quantity":2}`, p.ID)
		var guestCart string
		cases := []idemtest.Case{
			{Method: cart.MethodAddItem, Body: item, Ctx: customer},
			{Method: cart.MethodAddItem, Body: item}, // a guest: the repeat names the same new cart
			{Method: cart.MethodUpdateItem, Body: fmt.Sprintf(`{"product_id":%q,"quantity":5}`, p.ID), Ctx: withLine},
			{Method: cart.MethodRemoveItem, Body: fmt.Sprintf(`{"product_id":%q}`, p.ID), Ctx: withLine},
			{Method: cart.MethodClear, Body: `{}`, Ctx: withLine},
			{Method: cart.MethodMerge, Ctx: func(t *testing.T) context.Context {
				g, err := e.cart.AddItem(e.guest, cart.AddItemRequest{ProductID: p.ID, Quantity: 3})
				if err != nil {
					t.Fatal(err)
				}
				guestCart = g.ID
				return withLine(t)
			}},
		}
		for _, c := range cases {
			t.Run(c.Method, func(t *testing.T) {
				if c.Method == cart.MethodMerge {
					ctx := c.Ctx(t) // makes the guest cart the body names
					c.Ctx = func(*testing.T) context.Context { return ctx }
					c.Body = fmt.Sprintf(`{"guest_cart_id":%q}`, guestCart)
				}
				idemtest.Twice(t, bus, e.db, c, idemtest.Options{})
			})
		}
		idemtest.Covered(t, cart.Handler(e.srv).Methods(), []string{cart.MethodGet}, cases)
	})
}

// TestRetryAfterALostReply: the first reply of an add is lost (the caller
// sees unavailable) after the cart changed; Invoke retries with the same
// request id and the item is added once.
func TestRetryAfterALostReply(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, cart.Options{})
		p := e.product(t, "Lamp", 4500)
		var calls atomic.Int32
		lossy := transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
			out, err := cart.Handler(e.srv).ServeBus(ctx, req)
			if req.Method == cart.MethodAddItem && calls.Add(1) == 1 {
				return nil, shop.Unavailable("reply lost")
			}
			return out, err
		})
		const svc = "lossycart"
		sub, err := bus.Serve(svc, transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
			r := *req
			r.Method = "cart." + req.Method[len(svc)+1:]
			return lossy.ServeBus(ctx, &r)
		}))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		ctx, _ := e.auth.NewCustomer(t, "lost@shop.test", "")
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		got, err := transport.Invoke[cart.Cart](ctx, bus, svc+".add_item", cart.AddItemRequest{ProductID: p.ID, Quantity: 1})
		if err != nil {
			t.Fatalf("add with a lost reply: %v", err)
		}
		if calls.Load() != 2 {
			t.Errorf("handler ran %d times, want 2 (one lost reply, one retry)", calls.Load())
		}
		if len(got.Lines) != 1 || got.Lines[0].Quantity != 1 {
			t.Fatalf("retried add answered %+v, want one line of quantity 1", got.Lines)
		}
		now, err := e.cart.Get(ctx, cart.CartRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(now.Lines) != 1 || now.Lines[0].Quantity != 1 {
			t.Errorf("cart holds %+v, want one line of quantity 1", now.Lines)
		}
	})
}

// TestConcurrentDuplicates: the same request arriving many times at once
// (a redelivery racing a retry) is applied once.
func TestConcurrentDuplicates(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		e := start(t, bus, cart.Options{})
		p := e.product(t, "Pen", 150)
		ctx, _ := e.auth.NewCustomer(t, "dup@shop.test", "")
		ctx = transport.WithRequestID(ctx, transport.NewRequestID())
		body, _ := json.Marshal(cart.AddItemRequest{ProductID: p.ID, Quantity: 1})
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := bus.Call(ctx, cart.MethodAddItem, body); err != nil {
					t.Errorf("add: %v", err)
				}
			}()
		}
		wg.Wait()
		got, err := e.cart.Get(ctx, cart.CartRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Lines) != 1 || got.Lines[0].Quantity != 1 {
			t.Errorf("8 copies of one add gave %+v, want one line of quantity 1", got.Lines)
		}
		// The same id for another request is refused, not answered with this one's cart.
		other, _ := json.Marshal(cart.AddItemRequest{ProductID: p.ID, Quantity: 3})
		_, err = bus.Call(ctx, cart.MethodAddItem, other)
		if !errors.Is(err, shop.ErrInvalid) {
			t.Errorf("reused request id with another body: %v, want invalid", err)
		} else if f := err.(*transport.Error).Field("request_id"); f == "" {
			t.Errorf("reused request id: %v does not name the request_id field", err)
		}
	})
}
