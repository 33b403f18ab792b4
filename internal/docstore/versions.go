package docstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Versions keeps documents that are changed by compare-and-set on an
// integer version field, with a compare-and-set that holds across
// processes on both kinds of server.
//
// On MongoDB the write claims the version itself: a replace filtered on
// {_id, version} is atomic. FerretDB v1 applies a filtered write as read,
// then write by _id, so two processes writing one document at once, or a
// killed process whose write reaches the server late, can overwrite each
// other's versions (a lost update). There, every version after the first
// is inserted into a log collection first, under "<id>@<incarnation>@<
// version>": an insert of an _id is atomic, so exactly one writer gets
// each version. It is then copied onto the document, which may lag behind
// the log, or even fall back when a late write lands; Load rolls the
// document forward along the log. A document's first version is an
// insert, atomic anyway; it names the incarnation, so that a document
// deleted and created again does not pick up its predecessor's log.
//
// Log entries are kept for LogTTL (far longer than any write can be late)
// and then swept, once their document has caught up with them.
type Versions struct {
	main, log *mongo.Collection
	field     string
	logger    *slog.Logger
	// LogTTL is how long a log entry is kept (default 10 minutes).
	LogTTL    time.Duration
	lastSweep atomic.Int64
	now       func() time.Time
}

// incField holds a document's incarnation on servers that need the log.
const incField = "_inc"

// NewVersions returns the versioned store of coll, whose documents keep
// their version in field. On FerretDB its log is the collection named
// after coll with "_versions" appended.
func NewVersions(coll *mongo.Collection, field string, logger *slog.Logger) *Versions {
	if logger == nil {
		logger = slog.Default()
	}
	v := &Versions{main: coll, log: coll.Database().Collection(coll.Name() + "_versions"), field: field, logger: logger, LogTTL: 10 * time.Minute, now: time.Now}
	v.lastSweep.Store(time.Now().UnixNano())
	return v
}

// Rev is the revision of a document as loaded; Store takes it to change
// the document on the condition that it is still at that revision.
type Rev struct {
	// Version is the document's version; zero when there is no document.
	Version int64
	inc     string
}

// logEntry is one version in the log.
type logEntry struct {
	ID  string    `bson:"_id"`
	Doc bson.Raw  `bson:"doc"`
	At  time.Time `bson:"at"`
}

func logKey(id, inc string, version int64) string {
	return id + "@" + inc + "@" + strconv.FormatInt(version, 10)
}

// Load decodes the document id into into and returns its revision, and
// whether it exists.
func (v *Versions) Load(ctx context.Context, id string, into any) (Rev, bool, error) {
	raw, rev, err := v.load(ctx, id)
	if err != nil || raw == nil {
		return rev, false, err
	}
	if err := bson.Unmarshal(raw, into); err != nil {
		return rev, false, fmt.Errorf("docstore: decode %s: %w", id, err)
	}
	return rev, true, nil
}

func (v *Versions) load(ctx context.Context, id string) (bson.Raw, Rev, error) {
	raw, err := v.main.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, Rev{}, nil
	}
	if err != nil {
		return nil, Rev{}, err
	}
	rev, err := v.revOf(raw)
	if err != nil || !v.logged(ctx) {
		return raw, rev, err
	}
	stored := rev.Version
	for {
		var e logEntry
		err := v.log.FindOne(ctx, bson.D{{Key: "_id", Value: logKey(id, rev.inc, rev.Version+1)}}).Decode(&e)
		if errors.Is(err, mongo.ErrNoDocuments) {
			break
		}
		if err != nil {
			return nil, Rev{}, err
		}
		raw = e.Doc
		rev.Version++
	}
	if rev.Version != stored {
		// The document fell behind its log: bring it up to date (a
		// cache; readers roll forward regardless).
		if _, err := v.main.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, raw); err != nil {
			v.logger.Warn("docstore: cannot roll a document forward", "id", id, "version", rev.Version, "err", err)
		}
	}
	return raw, rev, nil
}

func (v *Versions) revOf(raw bson.Raw) (Rev, error) {
	var rev Rev
	val, err := raw.LookupErr(v.field)
	if err != nil {
		return rev, fmt.Errorf("docstore: document without %s", v.field)
	}
	n, ok := val.AsInt64OK()
	if !ok {
		return rev, fmt.Errorf("docstore: %s is a %s, not an integer", v.field, val.Type)
	}
	rev.Version = n
	if inc, err := raw.LookupErr(incField); err == nil {
		rev.inc, _ = inc.StringValueOK()
	}
	return rev, nil
}

// logged reports whether writes go through the log (FerretDB).
func (v *Versions) logged(ctx context.Context) bool {
	return scansFilters(ctx, v.main.Database().Client())
}

// Store writes doc, the next version of document id, if the document is
// still at revision prev (prev is the zero Rev for a document that does
// not exist yet), and reports whether it did. doc must carry _id id and
// version prev.Version+1.
func (v *Versions) Store(ctx context.Context, id string, doc any, prev Rev) (bool, error) {
	raw, err := v.encode(id, doc, prev)
	if err != nil {
		return false, err
	}
	if prev.Version == 0 {
		_, err := v.main.InsertOne(ctx, raw)
		if mongo.IsDuplicateKeyError(err) {
			return false, nil
		}
		return err == nil, err
	}
	if !v.logged(ctx) {
		res, err := v.main.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: v.field, Value: prev.Version}}, raw)
		if err != nil {
			return false, err
		}
		return res.MatchedCount > 0, nil
	}
	v.maybeSweep()
	next := prev.Version + 1
	_, err = v.log.InsertOne(ctx, logEntry{ID: logKey(id, prev.inc, next), Doc: raw, At: v.now()})
	if mongo.IsDuplicateKeyError(err) {
		return false, nil // another writer got this version
	}
	if err != nil {
		return false, err
	}
	// The version is ours and stored; the document itself is a copy.
	if _, err := v.main.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, raw); err != nil {
		v.logger.Warn("docstore: version logged, document not updated; readers roll it forward", "id", id, "version", next, "err", err)
	}
	return true, nil
}

// encode marshals doc after checking its id and version, adding the
// incarnation where the log needs one.
func (v *Versions) encode(id string, doc any, prev Rev) (bson.Raw, error) {
	raw, err := bson.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("docstore: encode %s: %w", id, err)
	}
	var d bson.D
	if err := bson.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("docstore: encode %s: %w", id, err)
	}
	rev, err := v.revOf(raw)
	if err != nil {
		return nil, err
	}
	if got, _ := bson.Raw(raw).Lookup("_id").StringValueOK(); got != id || rev.Version != prev.Version+1 {
		return nil, fmt.Errorf("docstore: document %q at version %d stored as %s version %d", got, rev.Version, id, prev.Version+1)
	}
	inc := prev.inc
	if prev.Version == 0 {
		inc = uuid.NewString()
	}
	d = append(d[:0:0], d...)
	for i := len(d) - 1; i >= 0; i-- {
		if d[i].Key == incField {
			d = append(d[:i], d[i+1:]...)
		}
	}
	d = append(d, bson.E{Key: incField, Value: inc})
	return bson.Marshal(d)
}

// maybeSweep sweeps the log in the background at most once per half LogTTL.
func (v *Versions) maybeSweep() {
	now, last := v.now().UnixNano(), v.lastSweep.Load()
	if now-last < int64(v.LogTTL/2) || !v.lastSweep.CompareAndSwap(last, now) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := v.Sweep(ctx); err != nil {
			v.logger.Warn("docstore: sweeping the version log failed", "collection", v.log.Name(), "err", err)
		}
	}()
}

// Sweep deletes the log entries older than LogTTL whose document has
// caught up with them (or is gone), and returns how many.
func (v *Versions) Sweep(ctx context.Context) (int, error) {
	cur, err := v.log.Find(ctx, bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: v.now().Add(-v.LogTTL)}}}})
	if err != nil {
		return 0, err
	}
	var old []logEntry
	if err := cur.All(ctx, &old); err != nil {
		return 0, err
	}
	deleted := 0
	for _, e := range old {
		i := strings.LastIndexByte(e.ID, '@')
		j := strings.LastIndexByte(e.ID[:max(i, 0)], '@')
		if j < 0 {
			continue
		}
		id, inc := e.ID[:j], e.ID[j+1:i]
		version, err := strconv.ParseInt(e.ID[i+1:], 10, 64)
		if err != nil {
			continue
		}
		if _, _, err := v.load(ctx, id); err != nil { // rolls the document forward
			return deleted, err
		}
		raw, err := v.main.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return deleted, err
		}
		if raw != nil {
			if rev, err := v.revOf(raw); err == nil && rev.inc == inc && rev.Version < version {
				continue // not caught up (yet): keep it
			}
		}
		if _, err := v.log.DeleteOne(ctx, bson.D{{Key: "_id", Value: e.ID}}); err != nil {
			return deleted, err
		}
		deleted++
	}
	return deleted, nil
}
