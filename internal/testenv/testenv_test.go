package testenv_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/shopbus/shopbus/internal/testenv"
)

func TestMongoDB(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var name string
	t.Run("use", func(t *testing.T) {
		db := testenv.MongoDB(t, "testenv")
		name = db.Name()
		if !strings.HasPrefix(name, "testenv_") {
			t.Errorf("database name %q lacks the prefix", name)
		}
		if other := testenv.MongoDB(t, "testenv"); other.Name() == name {
			t.Errorf("two databases named %q", name)
		}
		coll := db.Collection("things")
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "v", Value: 1}}); err != nil {
			t.Fatal(err)
		}
		var got struct{ V int }
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Decode(&got); err != nil {
			t.Fatal(err)
		}
		if got.V != 1 {
			t.Fatalf("got %+v", got)
		}
	})

	// The subtest's cleanup dropped its database.
	names, err := testenv.MongoClient(t).ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(names, name) {
		t.Errorf("database %s still exists after the test", name)
	}
}

func TestMongoDBNameFromTestName(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Run("sub test/with.odd chars and a name far too long for a database name", func(t *testing.T) {
		db := testenv.MongoDB(t, t.Name())
		if len(db.Name()) > 63 || strings.ContainsAny(db.Name(), "/. ") {
			t.Errorf("bad database name %q", db.Name())
		}
		if _, err := db.Collection("c").InsertOne(ctx, bson.D{{Key: "x", Value: 1}}); err != nil {
			t.Fatalf("database %q: %v", db.Name(), err)
		}
	})
}

func TestMongoURIShared(t *testing.T) {
	if a, b := testenv.MongoURI(t), testenv.MongoURI(t); a != b {
		t.Errorf("MongoURI not shared: %s, %s", a, b)
	}
	c1, c2 := testenv.MongoClient(t), testenv.MongoClient(t)
	if c1 != c2 {
		t.Error("MongoClient not shared")
	}
}

func TestAMQPURL(t *testing.T) {
	url := testenv.AMQPURL(t)
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()

	q, err := ch.QueueDeclare(testenv.UniqueName("testenv"), false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ch.PublishWithContext(ctx, "", q.Name, false, false, amqp.Publishing{Body: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	for {
		msg, ok, err := ch.Get(q.Name, true)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if string(msg.Body) != "hello" {
				t.Fatalf("got %q", msg.Body)
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("message not delivered")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestRabbitCtl(t *testing.T) {
	testenv.AMQPURL(t) // make sure the broker runs
	out := testenv.RabbitCtl(t, "-q", "list_vhosts", "name")
	if !strings.Contains(out, "/") {
		t.Errorf("list_vhosts: got %q, want the default vhost", out)
	}
}
