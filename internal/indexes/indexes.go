// Package indexes creates the secondary indexes a service declares, where
// they serve queries.
//
// The services read by _id on their hot paths; their secondary indexes
// serve the occasional scans (listings, sweeps, clean-ups) on a real
// MongoDB. FerretDB v1, the embedded store, answers every query but one on
// _id by reading the whole collection, so there an index serves no query
// and only costs every write (an index entry, and the document's JSON read
// again to compute it): measured on the 2-core VM, a 20,000-product seed
// ran 5-8 % faster without them. Ensure therefore creates none on FerretDB
// v1.
package indexes

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Ensure creates an index on coll for each of keys (non-unique), unless
// the server does not use secondary indexes (see Useful). They are created
// one at a time: FerretDB v1 drops the connection when createIndexes lists
// an index that exists already.
func Ensure(ctx context.Context, coll *mongo.Collection, keys ...bson.D) error {
	useful, err := Useful(ctx, coll.Database().Client())
	if err != nil {
		return err
	}
	if !useful {
		return nil
	}
	for _, k := range keys {
		if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: k}); err != nil {
			return fmt.Errorf("create index on %s: %w", coll.Name(), err)
		}
	}
	return nil
}

// usefulByClient remembers Useful's answer for each client.
var usefulByClient sync.Map // *mongo.Client -> bool

// Useful reports whether the server behind client uses secondary indexes
// to answer queries: false for FerretDB v1 (its buildInfo reports a
// ferretdbVersion of v1.x, or "unknown" where FerretDB is embedded as a
// library, as the embedded store and the deploy image do), true for
// MongoDB and later FerretDB versions. The answer is asked once per
// client.
func Useful(ctx context.Context, client *mongo.Client) (bool, error) {
	if v, ok := usefulByClient.Load(client); ok {
		return v.(bool), nil
	}
	info, err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Raw()
	if err != nil {
		return false, fmt.Errorf("buildInfo: %w", err)
	}
	useful := usefulFor(info)
	usefulByClient.Store(client, useful)
	return useful, nil
}

// usefulFor decides Useful from a buildInfo reply.
func usefulFor(buildInfo bson.Raw) bool {
	v, err := buildInfo.LookupErr("ferretdbVersion")
	if err != nil {
		return true // not FerretDB
	}
	version, _ := v.StringValueOK()
	return strings.HasPrefix(version, "v") && !strings.HasPrefix(version, "v1.")
}
