package auth

import (
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/shopbus/shopbus/shop"
)

// normaliseEmail trims and lower-cases an e-mail address and checks it. It
// returns the address, or "" and what is wrong with it. Only plain ASCII
// addresses of the form local@domain are accepted: no display names,
// comments, quoted local parts or internationalised domains.
func normaliseEmail(s string) (string, string) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "":
		return "", "is required"
	case len(s) > MaxEmailLen:
		return "", "must be at most 254 bytes"
	case strings.HasPrefix(s, "$"):
		return "", "must not start with '$'"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return "", "must be a plain ASCII e-mail address without spaces or control characters"
		}
	}
	const shape = "must be an e-mail address like name@example.com"
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return "", shape
	}
	if len(local) > 64 {
		return "", "the part before '@' must be at most 64 bytes"
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", shape
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", shape
			}
		}
	}
	if a, err := mail.ParseAddress(s); err != nil || a.Address != s || a.Name != "" {
		return "", shape
	}
	return s, ""
}

// checkPassword checks a password presented for login: it returns what
// is wrong with it, or "".
func checkPassword(pw string) string {
	switch {
	case pw == "":
		return "is required"
	case len(pw) > MaxPasswordLen:
		return "must be at most 128 bytes"
	case strings.IndexByte(pw, 0) >= 0:
		return "must not contain NUL characters"
	case !utf8.ValidString(pw):
		return "must be valid UTF-8"
	}
	return ""
}

// checkNewPassword checks a password being set: it returns what is wrong
// with it, or "".
func checkNewPassword(pw string) string {
	if msg := checkPassword(pw); msg != "" {
		return msg
	}
	if len(pw) < MinPasswordLen {
		return "must be at least 8 bytes"
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
