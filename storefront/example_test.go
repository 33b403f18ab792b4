package storefront_test

import (
	"log"
	"net/http"

	"github.com/shopbus/shopbus/storefront"
	"github.com/shopbus/shopbus/transport/inproc"
)

// The storefront on a bus where the services are served (by a host.Node,
// for instance), on :8080.
func Example() {
	bus := inproc.New(inproc.Options{})
	defer bus.Close()
	front, err := storefront.New(storefront.Options{Bus: bus, BaseURL: "http://localhost:8080", ShopName: "Example Shop"})
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", front))
}
