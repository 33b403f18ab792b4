package article

import (
	"html"
	"html/template"
	"strconv"
	"strings"
	"unicode/utf8"
)

// RenderHTML renders a small, safe subset of Markdown to HTML for the
// storefront:
//
//   - paragraphs (separated by blank lines), ATX headings (# to ######),
//     horizontal rules (---, ***, ___), block quotes (> ...);
//   - unordered (-, *, +) and ordered (1. or 1)) lists, one level;
//   - fenced code blocks (``` or ~~~) and `code spans`;
//   - **strong**, __strong__, *emphasis*, _emphasis_, and \-escapes;
//   - links [text](url) whose URL is http, https or relative (anything
//     else, such as javascript: or data:, renders the text without a link).
//
// Everything else is text. The whole input is HTML-escaped before any
// Markdown is interpreted, so raw HTML in the source (<script>, <img
// onerror=...>, ...) is shown as text and the only elements in the output
// are the ones listed above, with no attribute but href. The output is
// well-formed XML as well as HTML.
func RenderHTML(markdown string) template.HTML {
	src := strings.ReplaceAll(markdown, "\r\n", "\n")
	src = strings.ReplaceAll(src, "\r", "\n")
	// Invalid UTF-8 and characters neither HTML nor XML allows (NUL and
	// other controls but tab and newline, U+FFFE, U+FFFF) become U+FFFD.
	src = strings.Map(func(r rune) rune {
		if r < ' ' && r != '\t' && r != '\n' || r == 0xFFFE || r == 0xFFFF || r == utf8.RuneError {
			return '\uFFFD'
		}
		return r
	}, src)
	lines := strings.Split(html.EscapeString(src), "\n")
	var b strings.Builder
	renderBlocks(&b, lines, 0)
	return template.HTML(b.String()) //nolint:gosec // built from escaped text only
}

// maxQuoteDepth bounds nested block quotes; maxInlineDepth nested emphasis.
const (
	maxQuoteDepth  = 8
	maxInlineDepth = 16
	// maxSpan bounds how far ahead a closing delimiter is looked for, which
	// keeps rendering linear in the size of the input.
	maxSpan = 4096
)

// renderBlocks renders escaped lines as block elements.
func renderBlocks(b *strings.Builder, lines []string, depth int) {
	for i := 0; i < len(lines); {
		line := lines[i]
		trimmed := strings.TrimLeft(line, " \t")
		switch {
		case strings.TrimSpace(line) == "":
			i++

		case isFence(trimmed):
			fence := trimmed[:3]
			var code []string
			i++
			for i < len(lines) && !strings.HasPrefix(strings.TrimLeft(lines[i], " \t"), fence) {
				code = append(code, lines[i])
				i++
			}
			i++ // the closing fence, if any
			b.WriteString("<pre><code>")
			b.WriteString(strings.Join(code, "\n"))
			b.WriteString("</code></pre>\n")

		case headingLevel(trimmed) > 0:
			n := headingLevel(trimmed)
			text := strings.TrimSpace(trimmed[n:])
			text = strings.TrimSpace(strings.TrimRight(text, "#"))
			tag := "h" + strconv.Itoa(n)
			b.WriteString("<" + tag + ">")
			renderInline(b, text, 0, false)
			b.WriteString("</" + tag + ">\n")
			i++

		case isRule(trimmed):
			b.WriteString("<hr/>\n")
			i++

		case strings.HasPrefix(trimmed, "&gt;"):
			var inner []string
			for i < len(lines) {
				t := strings.TrimLeft(lines[i], " \t")
				if !strings.HasPrefix(t, "&gt;") {
					break
				}
				t = strings.TrimPrefix(t, "&gt;")
				inner = append(inner, strings.TrimPrefix(t, " "))
				i++
			}
			b.WriteString("<blockquote>\n")
			if depth < maxQuoteDepth {
				renderBlocks(b, inner, depth+1)
			} else {
				renderParagraph(b, inner)
			}
			b.WriteString("</blockquote>\n")

		case listMarker(trimmed) != "":
			tag := "ul"
			if listMarker(trimmed) == "ol" {
				tag = "ol"
			}
			b.WriteString("<" + tag + ">\n")
			var item []string
			flush := func() {
				if item != nil {
					b.WriteString("<li>")
					renderInline(b, strings.Join(item, "\n"), 0, false)
					b.WriteString("</li>\n")
				}
				item = nil
			}
			for i < len(lines) {
				t := strings.TrimLeft(lines[i], " \t")
				if strings.TrimSpace(t) == "" {
					break
				}
				if kind := listMarker(t); kind != "" {
					if kind != tag {
						break // a list of the other kind starts
					}
					flush()
					item = []string{strings.TrimLeft(stripMarker(t), " \t")}
				} else if startsBlock(t) {
					break
				} else {
					item = append(item, t) // continuation of the item
				}
				i++
			}
			flush()
			b.WriteString("</" + tag + ">\n")

		default:
			var para []string
			for i < len(lines) {
				t := strings.TrimLeft(lines[i], " \t")
				if strings.TrimSpace(t) == "" || (len(para) > 0 && startsBlock(t)) {
					break
				}
				para = append(para, strings.TrimRight(t, " \t"))
				i++
			}
			renderParagraph(b, para)
		}
	}
}

func renderParagraph(b *strings.Builder, lines []string) {
	if len(lines) == 0 {
		return
	}
	b.WriteString("<p>")
	renderInline(b, strings.Join(lines, "\n"), 0, false)
	b.WriteString("</p>\n")
}

// startsBlock reports whether a trimmed line starts a block other than a
// paragraph.
func startsBlock(t string) bool {
	return isFence(t) || headingLevel(t) > 0 || isRule(t) || strings.HasPrefix(t, "&gt;") || listMarker(t) != ""
}

func isFence(t string) bool { return strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") }

// headingLevel returns n for a line "#...# text" with n hashes (1-6), else 0.
func headingLevel(t string) int {
	n := 0
	for n < len(t) && t[n] == '#' {
		n++
	}
	if n == 0 || n > 6 || (n < len(t) && t[n] != ' ' && t[n] != '\t') {
		return 0
	}
	return n
}

// isRule reports whether t is three or more '-', '*' or '_' (and spaces only).
func isRule(t string) bool {
	t = strings.TrimSpace(t)
	if len(t) < 3 || (t[0] != '-' && t[0] != '*' && t[0] != '_') {
		return false
	}
	count := 0
	for i := 0; i < len(t); i++ {
		switch t[i] {
		case t[0]:
			count++
		case ' ', '\t':
		default:
			return false
		}
	}
	return count >= 3
}

// listMarker returns "ul" or "ol" when t starts with a list item marker.
func listMarker(t string) string {
	if len(t) >= 2 && (t[0] == '-' || t[0] == '*' || t[0] == '+') && (t[1] == ' ' || t[1] == '\t') {
		return "ul"
	}
	n := 0
	for n < len(t) && n < 9 && t[n] >= '0' && t[n] <= '9' {
		n++
	}
	if n > 0 && n+1 < len(t) && (t[n] == '.' || t[n] == ')') && (t[n+1] == ' ' || t[n+1] == '\t') {
		return "ol"
	}
	return ""
}

// stripMarker removes the list marker from a line listMarker accepted.
func stripMarker(t string) string {
	if listMarker(t) == "ul" {
		return t[2:]
	}
	i := strings.IndexAny(t, ".)")
	return t[i+2:]
}

// renderInline renders escaped text with code spans, links and emphasis.
// Every element it opens it closes, around text it rendered itself, so the
// output is balanced whatever the input.
func renderInline(b *strings.Builder, s string, depth int, inLink bool) {
	var brackets map[int]int // '[' index -> matching ']' index, made when needed
	lastParen := -1          // the last ')', which ends any link
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && isASCIIPunct(s[i+1]):
			if s[i+1] == '&' {
				i++ // an escaped "&", "<", ">" or quote: keep its entity as it is
				continue
			}
			b.WriteByte(s[i+1])
			i += 2

		case c == '`':
			n := runLen(s, i, '`')
			delim := s[i : i+n]
			end := indexWithin(s, i+n, delim)
			if end < 0 {
				b.WriteString(delim)
				i += n
				continue
			}
			b.WriteString("<code>")
			b.WriteString(strings.TrimSpace(s[i+n : end]))
			b.WriteString("</code>")
			i = end + n

		case c == '[' && !inLink:
			if brackets == nil {
				brackets = matchBrackets(s)
				lastParen = strings.LastIndexByte(s, ')')
			}
			text, url, next, ok := parseLink(s, i, brackets[i], lastParen)
			if !ok {
				b.WriteByte(c)
				i++
				continue
			}
			if safeURL(html.UnescapeString(url)) {
				b.WriteString(`<a href="`)
				b.WriteString(url) // escaped: it came from the escaped source
				b.WriteString(`">`)
				renderInline(b, text, depth+1, true)
				b.WriteString("</a>")
			} else {
				renderInline(b, text, depth+1, true)
			}
			i = next

		case (c == '*' || c == '_') && depth < maxInlineDepth:
			n := runLen(s, i, c)
			if c == '_' && i > 0 && isAlnum(s[i-1]) {
				b.WriteString(s[i : i+n]) // snake_case stays as it is
				i += n
				continue
			}
			if n >= 3 {
				if end := closeDelim(s, i+3, s[i:i+3]); end >= 0 {
					b.WriteString("<em><strong>")
					renderInline(b, s[i+3:end], depth+1, inLink)
					b.WriteString("</strong></em>")
					i = end + 3
					continue
				}
			}
			if n >= 2 {
				if end := closeDelim(s, i+2, s[i:i+2]); end >= 0 {
					b.WriteString("<strong>")
					renderInline(b, s[i+2:end], depth+1, inLink)
					b.WriteString("</strong>")
					i = end + 2
					continue
				}
			}
			if end := closeDelim(s, i+1, s[i:i+1]); end >= 0 && n == 1 {
				b.WriteString("<em>")
				renderInline(b, s[i+1:end], depth+1, inLink)
				b.WriteString("</em>")
				i = end + 1
				continue
			}
			b.WriteString(s[i : i+n])
			i += n

		default:
			b.WriteByte(c)
			i++
		}
	}
}

// closeDelim finds the closing delim for an emphasis opened just before
// from: the content must not start or end with a space and, for '_', the
// closing delimiter must not be followed by a letter or digit.
func closeDelim(s string, from int, delim string) int {
	if from >= len(s) || s[from] == ' ' || s[from] == '\n' || s[from] == '\t' {
		return -1
	}
	limit := min(len(s), from+maxSpan)
	for j := from + 1; j < limit; {
		k := strings.Index(s[j:limit], delim)
		if k < 0 {
			return -1
		}
		j += k
		after := j + len(delim)
		okBefore := s[j-1] != ' ' && s[j-1] != '\n' && s[j-1] != '\t'
		okAfter := !(delim[0] == '_' && after < len(s) && isAlnum(s[after]))
		if len(delim) == 1 && after < len(s) && s[after] == delim[0] {
			// part of a longer run: not the closer of a single delimiter
			j = after + runLen(s, after, delim[0])
			continue
		}
		if okBefore && okAfter {
			return j
		}
		j = after
	}
	return -1
}

// matchBrackets pairs each '[' in s with its ']' (0 when it has none),
// skipping backslash-escaped ones.
func matchBrackets(s string) map[int]int {
	m := map[int]int{}
	var open []int
	for j := 0; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '[':
			open = append(open, j)
		case ']':
			if n := len(open); n > 0 {
				m[open[n-1]] = j
				open = open[:n-1]
			}
		}
	}
	return m
}

// parseLink parses "[text](url)" at s[i], whose ']' is at j (0: none);
// the last ')' in s is at lastParen. url has no spaces and balanced
// parentheses; text may hold nested brackets.
func parseLink(s string, i, j, lastParen int) (text, url string, next int, ok bool) {
	if j <= i || j-i > maxSpan || j+2 >= len(s) || s[j+1] != '(' || j+2 >= lastParen {
		return "", "", 0, false
	}
	text = s[i+1 : j]
	start := j + 2
	end, parens := start, 0
	for ; end < len(s) && end-start <= MaxURLLen; end++ {
		c := s[end]
		if c == ' ' || c == '\n' || c == '\t' || c == ')' && parens == 0 {
			break
		}
		switch c {
		case '(':
			parens++
		case ')':
			parens--
		}
	}
	if end >= len(s) || s[end] != ')' || end == start {
		return "", "", 0, false
	}
	return text, s[start:end], end + 1, true
}

// safeURL reports whether a link target (unescaped) is an http or https URL
// or a relative one, with no whitespace, control characters or backslashes
// that browsers might read differently.
func safeURL(u string) bool {
	if u == "" || len(u) > MaxURLLen {
		return false
	}
	for i := 0; i < len(u); i++ {
		if c := u[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return false
		}
	}
	colon := strings.IndexByte(u, ':')
	if colon < 0 {
		return true
	}
	if cut := strings.IndexAny(u, "/?#"); cut >= 0 && cut < colon {
		return true // the colon is in the path, query or fragment: relative
	}
	scheme := strings.ToLower(u[:colon])
	return scheme == "http" || scheme == "https"
}

// indexWithin finds delim in s from from, looking at most maxSpan bytes ahead.
func indexWithin(s string, from int, delim string) int {
	limit := min(len(s), from+maxSpan)
	if from > limit {
		return -1
	}
	k := strings.Index(s[from:limit], delim)
	if k < 0 {
		return -1
	}
	return from + k
}

func runLen(s string, i int, c byte) int {
	n := 0
	for i+n < len(s) && s[i+n] == c {
		n++
	}
	return n
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isASCIIPunct(c byte) bool {
	return strings.IndexByte("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", c) >= 0
}
