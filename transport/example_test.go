package transport_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
)

// A service is a Mux of typed handlers served on a bus; a client calls it
// with Invoke. The same code runs on RabbitMQ with rabbit.Dial.
func Example() {
	bus := inproc.New(inproc.Options{})
	defer bus.Close()

	type Greeting struct {
		Name string `json:"name"`
	}
	mux := transport.NewMux()
	transport.Handle(mux, "greeter.hello", func(ctx context.Context, g Greeting) (string, error) {
		if g.Name == "" {
			return "", transport.Invalid("name required", "name", "must not be empty")
		}
		return "hello " + g.Name, nil
	})
	sub, err := bus.Serve("greeter", mux)
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	ctx := context.Background()
	reply, err := transport.Invoke[string](ctx, bus, "greeter.hello", Greeting{Name: "Ada"})
	fmt.Println(reply, err)

	_, err = transport.Invoke[string](ctx, bus, "greeter.hello", Greeting{})
	var e *transport.Error
	if errors.As(err, &e) && errors.Is(err, transport.ErrInvalid) {
		fmt.Println(e.Code, e.Field("name"))
	}
	// Output:
	// hello Ada <nil>
	// invalid must not be empty
}
