package article_test

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/shop/content/article"
)

func TestRenderHTML(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Hello", "<p>Hello</p>\n"},
		{"one\ntwo\n\nthree", "<p>one\ntwo</p>\n<p>three</p>\n"},
		{"# Title #\n###### Six", "<h1>Title</h1>\n<h6>Six</h6>\n"},
		{"####### seven", "<p>####### seven</p>\n"},
		{"**bold** *em* _em_ __strong__ ***both***", "<p><strong>bold</strong> <em>em</em> <em>em</em> <strong>strong</strong> <em><strong>both</strong></em></p>\n"},
		{"snake_case_name and 2*3*4", "<p>snake_case_name and 2<em>3</em>4</p>\n"},
		{"`a <b> & c`", "<p><code>a &lt;b&gt; &amp; c</code></p>\n"},
		{"``code with ` inside``", "<p><code>code with ` inside</code></p>\n"},
		{"- a\n- b\n  more\n* c", "<ul>\n<li>a</li>\n<li>b\nmore</li>\n<li>c</li>\n</ul>\n"},
		{"1. one\n2) two", "<ol>\n<li>one</li>\n<li>two</li>\n</ol>\n"},
		{"```go\nif a < b {}\n```\nafter", "<pre><code>if a &lt; b {}</code></pre>\n<p>after</p>\n"},
		{"> quoted\n> # head", "<blockquote>\n<p>quoted</p>\n<h1>head</h1>\n</blockquote>\n"},
		{"---", "<hr/>\n"},
		{"[site](https://example.com/a?b=1&c=2)", `<p><a href="https://example.com/a?b=1&amp;c=2">site</a></p>` + "\n"},
		{"[rel](/blog/x) [frag](#top) [wiki](https://en.wikipedia.org/wiki/Go_(language))", `<p><a href="/blog/x">rel</a> <a href="#top">frag</a> <a href="https://en.wikipedia.org/wiki/Go_(language)">wiki</a></p>` + "\n"},
		{"[**bold** link](http://x.example)", `<p><a href="http://x.example"><strong>bold</strong> link</a></p>` + "\n"},
		{`\*not em\* and \<b\>`, "<p>*not em* and &lt;b&gt;</p>\n"},
		{"unclosed *star and [bracket", "<p>unclosed *star and [bracket</p>\n"},
	} {
		if got := string(article.RenderHTML(c.in)); got != c.want {
			t.Errorf("RenderHTML(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
		checkSafe(t, c.in)
	}
}

// injections are sources that try to smuggle script into the page.
var injections = []string{
	"<script>alert(1)</script>",
	"<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
	"<img src=x onerror=alert(1)>",
	`<a href="javascript:alert(1)">x</a>`,
	"<svg/onload=alert(1)>",
	"<iframe src=javascript:alert(1)>",
	"[x](javascript:alert(1))",
	"[x](JaVaScRiPt:alert(1))",
	"[x](javascript&#58;alert(1))",
	"[x](&#106;avascript:alert(1))",
	"[x](java\tscript:alert(1))",
	"[x](vbscript:msgbox(1))",
	"[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
	`[x](http://ok.example" onmouseover="alert(1))`,
	`[x](http://ok.example"onmouseover="alert(1))`,
	"[x](http://ok.example'onmouseover='alert(1))",
	`[x](\javascript:alert(1))`,
	"[<img src=x onerror=alert(1)>](http://ok.example)",
	"[x](/ok) <style>body{display:none}</style>",
	"# <script>alert(1)</script>",
	"- <b onclick=alert(1)>item</b>",
	"```\n</code></pre><script>alert(1)</script>\n```",
	"`</code><script>alert(1)</script>`",
	"**<script>**alert(1)**</script>**",
	"> <script>alert(1)</script>",
	"\x00<script>alert(1)</script>",
	"&lt;script&gt;alert(1)&lt;/script&gt;",
	"<!--[if gte IE 4]><script>alert(1)</script><![endif]-->",
	"<![CDATA[<script>alert(1)</script>]]>",
}

func TestRenderHTMLBlocksInjection(t *testing.T) {
	for _, in := range injections {
		out := checkSafe(t, in)
		low := strings.ToLower(out)
		for _, bad := range []string{"<script", "<img", "<svg", "<iframe", "<style", "<b ", "javascript:", "vbscript:", "data:"} {
			if strings.Contains(low, bad) && (bad[0] == '<' || strings.Contains(low, `href="`+bad)) {
				t.Errorf("RenderHTML(%q) = %q contains %q", in, out, bad)
			}
		}
	}
	// The text of a refused link stays, without the link.
	if got := string(article.RenderHTML("[click](javascript:alert(1))")); got != "<p>click</p>\n" {
		t.Errorf("refused link rendered as %q", got)
	}
}

// checkSafe renders in and checks that the output is well-formed and uses
// only the renderer's elements, with no attribute but a safe href.
func checkSafe(t *testing.T, in string) string {
	t.Helper()
	out := string(article.RenderHTML(in))
	d := xml.NewDecoder(strings.NewReader("<root>" + out + "</root>"))
	d.Strict = true
	allowed := map[string]bool{"root": true, "p": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
		"strong": true, "em": true, "code": true, "pre": true, "ul": true, "ol": true, "li": true, "a": true, "blockquote": true, "hr": true}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("RenderHTML(%q) is not well-formed: %v\n%s", in, err, out)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if !allowed[tok.Name.Local] {
				t.Fatalf("RenderHTML(%q) has element <%s>:\n%s", in, tok.Name.Local, out)
			}
			for _, a := range tok.Attr {
				if tok.Name.Local != "a" || a.Name.Local != "href" || !safeHref(a.Value) {
					t.Fatalf("RenderHTML(%q) has attribute %s=%q on <%s>:\n%s", in, a.Name.Local, a.Value, tok.Name.Local, out)
				}
			}
		case xml.ProcInst, xml.Directive, xml.Comment:
			t.Fatalf("RenderHTML(%q) has %T:\n%s", in, tok, out)
		}
	}
	return out
}

// safeHref is what a browser would treat as http, https or relative.
func safeHref(v string) bool {
	low := strings.ToLower(strings.TrimSpace(v))
	if strings.ContainsAny(low, "\t\n\r\\") {
		return false
	}
	if i := strings.IndexByte(low, ':'); i >= 0 && !strings.ContainsAny(low[:i], "/?#") {
		return strings.HasPrefix(low, "http:") || strings.HasPrefix(low, "https:")
	}
	return true
}

func FuzzRenderHTML(f *testing.F) {
	for _, s := range injections {
		f.Add(s)
	}
	f.Add("# h\n\n- a\n- *b*\n\n1. c\n\n```\ncode\n```\n> q\n\n[l](http://x)")
	f.Fuzz(func(t *testing.T, in string) {
		checkSafe(t, in)
	})
}

// TestRenderHTMLLinearTime: unclosed delimiters in a large body do not
// make rendering quadratic.
func TestRenderHTMLLinearTime(t *testing.T) {
	for _, unit := range []string{"[", "]", "*a", "`", "**a", "_a", "[a](", "[](", "> ", "- "} {
		in := strings.Repeat(unit, article.MaxBodyLen/len(unit)) + ")"
		start := time.Now()
		checkSafe(t, in)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("rendering %d bytes of %q took %v", len(in), unit, d)
		}
	}
}
