// Command ferretdb serves a MongoDB-compatible database (FerretDB v1 with
// its SQLite backend) on one port: the stand-in for MongoDB in the
// end-to-end test, where MongoDB images cannot be pulled. It is not part of
// the standard topology, which uses MongoDB itself.
//
//	ferretdb -addr :27017 -dir /data/db
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/shopbus/shopbus/internal/embedmongo"
)

func main() {
	addr := flag.String("addr", ":27017", "listen address")
	dir := flag.String("dir", "/data/db", "directory of the SQLite files")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := embedmongo.Start(ctx, *dir, embedmongo.WithAddr(*addr))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
	fmt.Println("ferretdb: serving", srv.URI(), "from", *dir)
	<-ctx.Done()
	srv.Stop()
}
