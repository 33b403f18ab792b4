package order

import (
	"fmt"
	"math/big"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/shopbus/shopbus/shop"
)

// Field limits.
const (
	maxEmailLen   = 254
	maxNameLen    = 200
	maxLineLen    = 200
	maxPostalLen  = 16
	maxCityLen    = 100
	maxReasonLen  = 500
	maxOrderIDLen = 64
)

// checkEmail returns what is wrong with a contact email, or "".
func checkEmail(email string) string {
	switch {
	case email == "":
		return "is required"
	case len(email) > maxEmailLen:
		return fmt.Sprintf("must be at most %d characters", maxEmailLen)
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || !strings.Contains(email[strings.LastIndexByte(email, '@')+1:], ".") {
		return "must be an email address like name@example.com"
	}
	return ""
}

// checkText returns what is wrong with a text field, or "": at most max
// bytes of valid UTF-8 without control characters, not blank if required.
func checkText(s string, required bool, max int) string {
	switch {
	case strings.TrimSpace(s) == "":
		if required {
			return "is required"
		}
		if s != "" {
			return "must not be blank"
		}
		return ""
	case len(s) > max:
		return fmt.Sprintf("must be at most %d characters", max)
	case !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl):
		return "must be text without control characters"
	}
	return ""
}

// checkPlace returns the field errors of a place request, or nil.
func (s *Server) checkPlace(r PlaceRequest) error {
	a := r.Address
	country := ""
	if len(a.Country) != 2 || strings.ToUpper(a.Country) != a.Country || strings.ContainsFunc(a.Country, func(c rune) bool { return c < 'A' || c > 'Z' }) {
		country = "must be a two-letter ISO 3166 code like DE"
	} else if _, ok := s.opts.TaxRates[a.Country]; !ok {
		country = "we do not ship to " + a.Country
	}
	postal := checkText(a.PostalCode, true, maxPostalLen)
	if postal == "" && strings.ContainsFunc(a.PostalCode, func(c rune) bool {
		return !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == ' ' || c == '-')
	}) {
		postal = "must be letters, digits, spaces or '-'"
	}
	method := ""
	if r.ShippingMethod == "" {
		method = "is required"
	} else if _, ok := s.shipping(r.ShippingMethod); !ok {
		method = "is not a shipping method we offer"
	}
	return fieldErrors("invalid order",
		"email", checkEmail(r.Email),
		"address.name", checkText(a.Name, true, maxNameLen),
		"address.line1", checkText(a.Line1, true, maxLineLen),
		"address.line2", checkText(a.Line2, false, maxLineLen),
		"address.postal_code", postal,
		"address.city", checkText(a.City, true, maxCityLen),
		"address.country", country,
		"shipping_method", method,
	)
}

// checkOrderID returns what is wrong with an order id, or "".
func checkOrderID(id string) string {
	if id == "" {
		return "is required"
	}
	if len(id) > maxOrderIDLen || strings.ContainsFunc(id, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_')
	}) {
		return "is not an order id"
	}
	return ""
}

// checkStatus returns what is wrong with a status filter, or "".
func checkStatus(status string, required bool) string {
	switch status {
	case "":
		if required {
			return "is required"
		}
		return ""
	case StatusPending, StatusPaid, StatusShipped, StatusDelivered, StatusFailed, StatusCancelled:
		return ""
	}
	return "must be one of pending, paid, shipped, delivered, failed, cancelled"
}

// fieldErrors returns an invalid error listing the fields whose message
// is not empty, or nil if there is none.
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

// TaxIncluded returns the tax included in gross at rate basis points
// (1900 is 19%): gross × rate / (10,000 + rate), rounded half up to the
// minor unit, in exact integer arithmetic (no float, no overflow).
func TaxIncluded(gross int64, rate int) int64 {
	if gross <= 0 || rate <= 0 {
		return 0
	}
	num := new(big.Int).Mul(big.NewInt(gross), big.NewInt(int64(rate)))
	den := big.NewInt(10_000 + int64(rate))
	// round half up: (2·num + den) / (2·den)
	num.Mul(num, big.NewInt(2)).Add(num, den)
	den.Mul(den, big.NewInt(2))
	return num.Quo(num, den).Int64()
}
