package cart

import (
	"fmt"
	"strings"

	"github.com/shopbus/shopbus/shop"
)

// checkCartID checks an optional cart id: it returns what is wrong with
// it, or "". Ids are what the service hands out: "g_" or "u_" followed by
// base64url characters (a user id may also hold '-').
func checkCartID(id string) string {
	if id == "" {
		return ""
	}
	if len(id) > maxIDLen {
		return fmt.Sprintf("must be at most %d bytes", maxIDLen)
	}
	if !strings.HasPrefix(id, guestPrefix) && !strings.HasPrefix(id, userPrefix) || len(id) == len(guestPrefix) {
		return "is not a cart id"
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "is not a cart id"
		}
	}
	return ""
}

// checkRef checks a product or variant id: it returns what is wrong with
// it, or "". Ids are opaque to the cart but must be short, printable, and
// never look like a MongoDB operator.
func checkRef(id string, required bool) string {
	switch {
	case id == "":
		if required {
			return "is required"
		}
		return ""
	case len(id) > maxIDLen:
		return fmt.Sprintf("must be at most %d bytes", maxIDLen)
	case id[0] == '$':
		return "must not start with '$'"
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c == 0x7f {
			return "must not contain spaces or control characters"
		}
	}
	return ""
}

func (s *Server) checkQuantity(q int) string {
	if q < 1 || q > s.opts.MaxQuantity {
		return fmt.Sprintf("must be from 1 to %d", s.opts.MaxQuantity)
	}
	return ""
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
