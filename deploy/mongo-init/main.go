// Command mongo-init initiates the MongoDB replica set of the standard
// topology (deploy/compose.yaml) and exits 0 once it has a primary. It is a
// static Go binary, so its image needs no shell and no mongosh.
//
// Environment:
//
//	SHOP_MONGO_NODES    comma-separated host:port of the members (default mongo1:27017,mongo2:27017,mongo3:27017)
//	SHOP_MONGO_REPLSET  the replica set name (default rs0)
//	SHOP_MONGO_TIMEOUT  how long to wait for the nodes and the primary (default 2m)
//
// Running it again is harmless: an initiated set is left alone. A server
// that has no replica sets (such as FerretDB, which the end-to-end test
// substitutes for MongoDB) is reported and accepted as it is.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mongo-init:", err)
		os.Exit(1)
	}
}

func run() error {
	nodes := strings.Split(env("SHOP_MONGO_NODES", "mongo1:27017,mongo2:27017,mongo3:27017"), ",")
	set := env("SHOP_MONGO_REPLSET", "rs0")
	timeout, err := time.ParseDuration(env("SHOP_MONGO_TIMEOUT", "2m"))
	if err != nil || timeout <= 0 {
		return fmt.Errorf("SHOP_MONGO_TIMEOUT: want a duration such as 2m, got %q", os.Getenv("SHOP_MONGO_TIMEOUT"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	clients := make([]*mongo.Client, len(nodes))
	for i, node := range nodes {
		c, err := mongo.Connect(options.Client().ApplyURI("mongodb://" + strings.TrimSpace(node) + "/?directConnection=true").SetServerSelectionTimeout(2 * time.Second))
		if err != nil {
			return fmt.Errorf("%s: %w", node, err)
		}
		defer c.Disconnect(context.Background())
		clients[i] = c
		if err := retry(ctx, func() error { return c.Ping(ctx, nil) }); err != nil {
			return fmt.Errorf("%s does not answer: %w", node, err)
		}
		fmt.Println("mongo-init:", node, "answers")
	}
	admin := clients[0].Database("admin")
	err = admin.RunCommand(ctx, bson.D{{Key: "replSetGetStatus", Value: 1}}).Err()
	var cmdErr mongo.CommandError
	switch {
	case err == nil:
		fmt.Println("mongo-init: replica set", set, "already initiated")
	case errors.As(err, &cmdErr) && cmdErr.Code == 94: // NotYetInitialized
		members := bson.A{}
		for i, node := range nodes {
			members = append(members, bson.D{{Key: "_id", Value: i}, {Key: "host", Value: strings.TrimSpace(node)}})
		}
		cfg := bson.D{{Key: "_id", Value: set}, {Key: "members", Value: members}}
		if err := admin.RunCommand(ctx, bson.D{{Key: "replSetInitiate", Value: cfg}}).Err(); err != nil {
			return fmt.Errorf("replSetInitiate: %w", err)
		}
		fmt.Println("mongo-init: initiated replica set", set, "with", len(nodes), "members")
	case errors.As(err, &cmdErr) && (cmdErr.Code == 59 || cmdErr.Code == 238 || cmdErr.Code == 76): // CommandNotFound, NotImplemented, NoReplicationEnabled
		fmt.Println("mongo-init: the servers have no replica sets (", cmdErr.Message, "); using them as they are")
		return nil
	default:
		return fmt.Errorf("replSetGetStatus: %w", err)
	}
	// Wait until some member is the writable primary.
	return retry(ctx, func() error {
		for i, c := range clients {
			var hello struct {
				IsWritablePrimary bool `bson:"isWritablePrimary"`
			}
			if err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err == nil && hello.IsWritablePrimary {
				fmt.Println("mongo-init: primary is", nodes[i])
				return nil
			}
		}
		return errors.New("no primary yet")
	})
}

func retry(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
