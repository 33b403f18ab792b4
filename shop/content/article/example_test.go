package article_test

import (
	"context"
	"fmt"
	"log"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/transport/inproc"
)

// Example serves the article service on a bus, writes an article as an
// admin and reads it back as the storefront would.
func Example() {
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://localhost:27017"))
	if err != nil {
		log.Fatal(err)
	}
	bus := inproc.New(inproc.Options{})
	defer bus.Close()

	srv, err := article.New(client.Database("shop_article"), article.Options{
		Auth:   auth.NewClient(bus), // the auth service runs on the same bus
		Events: bus,
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := srv.PublishPending(ctx); err != nil { // announce writes a crash left unannounced
		log.Print(err)
	}
	if _, err := article.Bind(bus, srv); err != nil {
		log.Fatal(err)
	}

	articles := article.NewClient(bus)
	admin := shop.WithToken(ctx, "an admin's session token")
	a, err := articles.Create(admin, article.CreateRequest{
		Title:  "Spring is here",
		Body:   "# Spring\n\nOur **new** collection: [see it](/collections/spring).",
		Tags:   []string{"news"},
		Status: article.StatusPublished,
	})
	if err != nil {
		log.Fatal(err)
	}
	page, err := articles.List(ctx, article.ListRequest{Tag: "news", Limit: 10})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a.Slug, len(page.Articles))
	fmt.Println(article.RenderHTML(a.Body))
}

// ExampleRenderHTML shows that raw HTML and script links in a body are
// rendered harmless.
func ExampleRenderHTML() {
	fmt.Print(article.RenderHTML("Hello <script>alert(1)</script> [**you**](javascript:alert(1)) and [docs](https://go.dev/)"))
	// Output:
	// <p>Hello &lt;script&gt;alert(1)&lt;/script&gt; <strong>you</strong> and <a href="https://go.dev/">docs</a></p>
}
