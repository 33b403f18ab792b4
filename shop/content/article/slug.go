package article

import (
	"strings"
	"unicode"

	"github.com/shopbus/shopbus/shop"
)

// fold spells common non-ASCII Latin letters in ASCII.
var fold = map[rune]string{
	'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'ä': "ae", 'å': "a", 'æ': "ae",
	'ç': "c", 'è': "e", 'é': "e", 'ê': "e", 'ë': "e",
	'ì': "i", 'í': "i", 'î': "i", 'ï': "i", 'ñ': "n",
	'ò': "o", 'ó': "o", 'ô': "o", 'õ': "o", 'ö': "oe", 'ø': "o", 'œ': "oe",
	'ù': "u", 'ú': "u", 'û': "u", 'ü': "ue", 'ý': "y", 'ÿ': "y", 'ß': "ss",
	'ł': "l", 'ś': "s", 'š': "s", 'ž': "z", 'ź': "z", 'ż': "z", 'č': "c", 'ć': "c",
	'ř': "r", 'ě': "e", 'ą': "a", 'ę': "e", 'ń': "n", 'ő': "o", 'ű': "u",
}

// Slugify turns s into a slug: lower-case ASCII letters and digits, words
// joined by single hyphens, at most MaxSlugLen bytes, cut at a hyphen when
// possible. Common accented Latin letters are spelled in ASCII; other
// characters separate words. The result is "" when s has no letter or digit
// that survives.
func Slugify(s string) string {
	var b strings.Builder
	hyphen := false
	add := func(part string) {
		if hyphen && b.Len() > 0 {
			b.WriteByte('-')
		}
		hyphen = false
		b.WriteString(part)
	}
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			add(string(r))
		case fold[r] != "":
			add(fold[r])
		case r == '\'' || r == '’':
			// "don't" -> "dont"
		default:
			if unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || r > unicode.MaxASCII || r < ' ' {
				hyphen = true
			}
		}
	}
	out := b.String()
	if len(out) > MaxSlugLen {
		out = out[:MaxSlugLen]
		if i := strings.LastIndexByte(out, '-'); i > MaxSlugLen/2 {
			out = out[:i]
		}
		out = strings.TrimRight(out, "-")
	}
	return out
}

// validSlug reports whether s is a well-formed article slug, at most
// MaxSlugLen bytes (see shop.ValidSlug).
func validSlug(s string) bool { return shop.ValidSlug(s, MaxSlugLen) }
