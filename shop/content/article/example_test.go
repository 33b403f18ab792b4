package article_test

import (
	"context"
	"fmt"

	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/shop/shoptest"
)

// Example writes an article as an admin and reads it back as the
// storefront would: the newest published articles with a tag, and the
// body rendered as HTML.
func Example() {
	t, done := shoptest.ExampleTB() // in a test: the test's *testing.T
	defer done()
	s := shoptest.Start(t, shoptest.Options{Services: []string{article.ServiceName}})

	articles := article.NewClient(s.Bus)
	a, err := articles.Create(s.Admin(t), article.CreateRequest{
		Title:  "Spring is here",
		Body:   "Our **new** collection: [see it](/collections/spring).",
		Tags:   []string{"news"},
		Status: article.StatusPublished,
	})
	if err != nil {
		t.Fatal(err)
	}
	page, err := articles.List(context.Background(), article.ListRequest{Tag: "news", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range page.Articles {
		fmt.Println(a.Slug, a.Title)
	}
	fmt.Print(article.RenderHTML(a.Body))
	// Output:
	// spring-is-here Spring is here
	// <p>Our <strong>new</strong> collection: <a href="/collections/spring">see it</a>.</p>
}

// ExampleRenderHTML shows that raw HTML and script links in a body are
// rendered harmless.
func ExampleRenderHTML() {
	fmt.Print(article.RenderHTML("Hello <script>alert(1)</script> [**you**](javascript:alert(1)) and [docs](https://go.dev/)"))
	// Output:
	// <p>Hello &lt;script&gt;alert(1)&lt;/script&gt; <strong>you</strong> and <a href="https://go.dev/">docs</a></p>
}
