package shop

// ValidSlug reports whether s is a slug as the services make them: ASCII
// lower-case letters and digits in words joined by single hyphens, at
// most maxLen bytes.
func ValidSlug(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && s[i-1] != '-':
		default:
			return false
		}
	}
	return true
}
