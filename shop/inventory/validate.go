package inventory

import (
	"fmt"
	"strconv"
	"time"

	"github.com/shopbus/shopbus/shop"
)

// checkSKU returns what is wrong with a SKU, or "": 1-64 of A-Z, a-z,
// 0-9, '-', '_' and '.', starting with a letter or digit.
func checkSKU(sku string) string {
	if sku == "" {
		return "is required"
	}
	if len(sku) > MaxSKULen {
		return fmt.Sprintf("must be at most %d characters", MaxSKULen)
	}
	for i := 0; i < len(sku); i++ {
		switch c := sku[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return "must be letters, digits, '-', '_' or '.', starting with a letter or digit"
		}
	}
	return ""
}

// checkOrderID returns what is wrong with an order id, or "": 1-64 of
// A-Z, a-z, 0-9, '-' and '_' (a UUID is one).
func checkOrderID(id string) string {
	if id == "" {
		return "is required"
	}
	if len(id) > MaxOrderIDLen {
		return fmt.Sprintf("must be at most %d characters", MaxOrderIDLen)
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return "must be letters, digits, '-' or '_'"
		}
	}
	return ""
}

// checkUnits returns what is wrong with a count of units on hand, or "".
func checkUnits(n int64) string {
	if n < 0 || n > MaxUnits {
		return fmt.Sprintf("must be from 0 to %d", MaxUnits)
	}
	return ""
}

// checkReserve returns the field errors of a reserve request, or nil.
func checkReserve(r ReserveRequest) error {
	fields := []string{"order_id", checkOrderID(r.OrderID)}
	switch {
	case len(r.Lines) == 0:
		fields = append(fields, "lines", "reserve at least one line")
	case len(r.Lines) > MaxLines:
		fields = append(fields, "lines", fmt.Sprintf("at most %d lines", MaxLines))
	default:
		seen := map[string]bool{}
		for i, l := range r.Lines {
			at := "lines[" + strconv.Itoa(i) + "]"
			msg := checkSKU(l.SKU)
			if msg == "" && seen[l.SKU] {
				msg = "appears twice"
			}
			seen[l.SKU] = true
			fields = append(fields, at+".sku", msg)
			if l.Quantity < 1 || l.Quantity > MaxUnits {
				fields = append(fields, at+".quantity", fmt.Sprintf("must be from 1 to %d", MaxUnits))
			}
		}
	}
	if r.ExpiresIn < 0 || r.ExpiresIn > int64(MaxExpiry/time.Second) {
		fields = append(fields, "expires_in", fmt.Sprintf("must be from 1 to %d seconds (0: the default)", int64(MaxExpiry/time.Second)))
	}
	return fieldErrors("invalid reservation", fields...)
}

// fieldErrors returns an invalid error listing the fields whose message
// is not empty, or nil if there is none. fieldAndMessage alternates field
// names and messages.
func fieldErrors(message string, fieldAndMessage ...string) error {
	var bad []string
	for i := 0; i+1 < len(fieldAndMessage); i += 2 {
		if fieldAndMessage[i+1] != "" {
			bad = append(bad, fieldAndMessage[i], fieldAndMessage[i+1])
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return shop.Invalid(message, bad...)
}

// quote quotes s for a message (SKUs and order ids are checked ASCII).
func quote(s string) string { return strconv.Quote(s) }
