package embedmongo_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/embedmongo"
)

// openSQLite opens a database file of the server read-only.
func openSQLite(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// tableOf returns the SQLite table FerretDB keeps a collection in.
func tableOf(t testing.TB, db *sql.DB, collection string) string {
	t.Helper()
	var table string
	if err := db.QueryRow(`SELECT table_name FROM _ferretdb_collections WHERE name = ?`, collection).Scan(&table); err != nil {
		t.Fatalf("table of %s: %v", collection, err)
	}
	return table
}

// waitForIDIndexes waits up to 5 seconds until the id indexer has indexed
// n tables of db.
func waitForIDIndexes(t testing.TB, db *sql.DB, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var indexed int
		if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'shopbus_id_%'`).Scan(&indexed); err != nil {
			t.Fatal(err)
		}
		if indexed == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d collections have the _id index after 5 s", indexed, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The statements FerretDB v1.24 runs to find, update and delete by _id
// all use the index the server adds.
func TestLookupsByIDUseAnIndex(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	_, client := start(t, dir)
	for _, name := range []string{"items", "others"} {
		if _, err := client.Database("shop").Collection(name).InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}}); err != nil {
			t.Fatal(err)
		}
	}
	db := openSQLite(t, filepath.Join(dir, "shop.sqlite"))
	table := tableOf(t, db, "items")

	waitForIDIndexes(t, db, 2)
	for _, q := range []string{
		`SELECT _ferretdb_sjson FROM %q WHERE _ferretdb_sjson->'$._id' = ?`,
		`UPDATE %q SET _ferretdb_sjson = ? WHERE _ferretdb_sjson->'$._id' = ?`,
		`DELETE FROM %q WHERE _ferretdb_sjson->'$._id' IN (?)`,
	} {
		var id, parent, unused int
		var plan string
		args := []any{`"a"`}
		if strings.HasPrefix(q, "UPDATE") {
			args = append([]any{`{}`}, args...)
		}
		if err := db.QueryRow("EXPLAIN QUERY PLAN "+fmt.Sprintf(q, table), args...).Scan(&id, &parent, &unused, &plan); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, "USING INDEX shopbus_id_"+table) {
			t.Errorf("%s: plan %q does not use the _id index", q, plan)
		}
	}

	// Reads and writes by _id still behave, and _id stays unique (that is
	// FerretDB's own index).
	coll := client.Database("shop").Collection("items")
	if _, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: "a"}}, bson.D{{Key: "n", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	var got struct{ N int }
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Decode(&got); err != nil || got.N != 2 {
		t.Fatalf("after replace: %+v, %v", got, err)
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}}); !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("second insert of _id a: %v, want a duplicate key error", err)
	}

	// A dropped database stays dropped: the indexer never re-creates it.
	if err := client.Database("shop").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // three indexer sweeps
	names, err := client.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if n == "shop" {
			t.Fatalf("dropped database is back: %v", names)
		}
	}
}

// BenchmarkFindByID finds and replaces documents by _id in a collection of
// 5,000: "ferretdb-as-is" is the baseline (FerretDB's own index, unused),
// "with-id-index" runs with the index Start adds.
func BenchmarkFindByID(b *testing.B) {
	const docs = 5000
	var baseline time.Duration
	for _, variant := range []struct {
		name string
		opts []embedmongo.Option
	}{
		{"ferretdb-as-is", []embedmongo.Option{embedmongo.WithoutIDIndexes()}},
		{"with-id-index", nil},
	} {
		b.Run(variant.name, func(b *testing.B) {
			ctx := context.Background()
			srv, err := embedmongo.Start(ctx, b.TempDir(), variant.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Stop()
			client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
			if err != nil {
				b.Fatal(err)
			}
			defer client.Disconnect(ctx)
			coll := client.Database("bench").Collection("docs")
			batch := make([]any, docs)
			for i := range batch {
				batch[i] = bson.D{{Key: "_id", Value: fmt.Sprintf("d%05d", i)}, {Key: "text", Value: "a document of some length, parsed by every scan"}}
			}
			if _, err := coll.InsertMany(ctx, batch); err != nil {
				b.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond) // let the indexer see the table
			start := time.Now()
			for n := 0; b.Loop(); n++ {
				id := fmt.Sprintf("d%05d", (n*7919)%docs)
				if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Err(); err != nil {
					b.Fatal(err)
				}
				if _, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "n", Value: n}}); err != nil {
					b.Fatal(err)
				}
			}
			perOp := time.Since(start) / time.Duration(b.N)
			if baseline == 0 {
				baseline = perOp
			} else {
				b.ReportMetric(float64(perOp)/float64(baseline), "ratio")
			}
		})
	}
}

// TestIndexerLooksLessAtQuietFiles: a file being written all the time is
// opened about once a second once its tables all have the index, not at
// every sweep, and a collection created later still gets its index.
func TestIndexerLooksLessAtQuietFiles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	_, client := start(t, dir)
	coll := client.Database("busy").Collection("items")
	db := openSQLite(t, filepath.Join(dir, "busy.sqlite"))
	indexes := func() int {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'shopbus_id_%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	write := func(until time.Time) {
		for i := 0; time.Now().Before(until); i++ {
			if _, err := coll.InsertOne(ctx, bson.D{{Key: "n", Value: i}}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	write(time.Now().Add(300 * time.Millisecond))
	if n := indexes(); n != 1 {
		t.Fatalf("%d _id indexes after 300 ms, want 1", n)
	}
	before := embedmongo.FileLooks()
	write(time.Now().Add(2 * time.Second))
	if looks := embedmongo.FileLooks() - before; looks > 4 {
		t.Errorf("%d looks at a fully indexed file in 2 s of writes, want about 2 (every 100 ms: 20)", looks)
	}
	if _, err := client.Database("busy").Collection("later").InsertOne(ctx, bson.D{{Key: "n", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	write(time.Now().Add(1500 * time.Millisecond))
	if n := indexes(); n != 2 {
		t.Fatalf("%d _id indexes 1.5 s after a second collection, want 2", n)
	}
}
