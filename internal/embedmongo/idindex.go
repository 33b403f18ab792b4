package embedmongo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // the driver FerretDB uses; registered as "sqlite"
)

// FerretDB v1.24 finds a document by _id with the SQL expression
// _ferretdb_sjson->'$._id', but indexes _id on _ferretdb_sjson->"_id".
// SQLite cannot tell that the two are the same, so every find, update and
// delete by _id reads and parses the whole table: with 5,000 documents a
// find by _id took 5.2 ms and a replace 12 ms, against 0.2 ms and 0.75 ms
// with the index below (BenchmarkFindByID). The id indexer gives every
// collection table an index on the expression the queries use, shortly
// after FerretDB creates the table.
//
// It works on FerretDB's files from the side, through SQLite's own
// locking: FerretDB knows nothing of the index, which SQLite keeps up to
// date and drops with its table.

// idIndexPrefix starts the name of each index the id indexer adds.
const idIndexPrefix = "shopbus_id_"

// idIndexer adds the missing _id index to the collection tables of the
// SQLite files in one directory.
type idIndexer struct {
	dir    string
	logger *slog.Logger
	// checked holds each file's state when it was last indexed: a file is
	// looked at again only once it has changed.
	checked map[string]fileState
	// quietUntil holds, for each file whose last look found every table
	// indexed, when to look again at the soonest: files change with every
	// write, and opening one ten times a second cost 2% of a seed's CPU.
	quietUntil map[string]time.Time
}

// fileState identifies a database file's content closely enough to tell
// that it has changed: its inode (a dropped and re-created database is a
// new file), and the size and time of the file and its write-ahead log.
type fileState struct {
	inode            uint64
	size, walSize    int64
	modTime, walTime time.Time
}

// idIndexInterval is how often the id indexer looks for new tables;
// idIndexQuiet, how often at most in a file whose tables all had the
// index at the last look (a table created since is indexed within it).
const (
	idIndexInterval = 100 * time.Millisecond
	idIndexQuiet    = time.Second
)

// run indexes until ctx ends, at once and then every idIndexInterval.
func (x *idIndexer) run(ctx context.Context) {
	t := time.NewTicker(idIndexInterval)
	defer t.Stop()
	for {
		x.sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweep indexes every database file that changed since it was last
// indexed.
func (x *idIndexer) sweep(ctx context.Context) {
	files, _ := filepath.Glob(filepath.Join(x.dir, "*.sqlite"))
	present := make(map[string]bool, len(files))
	now := time.Now()
	for _, path := range files {
		present[path] = true
		before, ok := stateOf(path)
		if !ok || before == x.checked[path] || now.Before(x.quietUntil[path]) && before.inode == x.checked[path].inode {
			continue
		}
		allIndexed, err := indexFile(ctx, path)
		if err != nil {
			x.logger.DebugContext(ctx, "embedmongo: indexing _id", "file", path, "error", err)
			continue // again next time
		}
		if after, ok := stateOf(path); ok {
			x.checked[path] = after
		}
		delete(x.quietUntil, path)
		if allIndexed {
			x.quietUntil[path] = now.Add(idIndexQuiet)
		}
	}
	for path := range x.checked {
		if !present[path] {
			delete(x.checked, path)
			delete(x.quietUntil, path)
		}
	}
}

func stateOf(path string) (fileState, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileState{}, false
	}
	st := fileState{size: fi.Size(), modTime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.inode = uint64(sys.Ino)
	}
	if wal, err := os.Stat(path + "-wal"); err == nil {
		st.walSize, st.walTime = wal.Size(), wal.ModTime()
	}
	return st, true
}

// indexFile adds the missing _id indexes to one database file, and
// reports whether every table of the file had one when it looked (none
// was missing, and FerretDB had set the file up). It never creates the
// file (mode=rw): a database being dropped stays dropped.
func indexFile(ctx context.Context, path string) (allIndexed bool, err error) {
	fileLooks.Add(1)
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?mode=rw&_pragma=busy_timeout(10000)")
	if err != nil {
		return false, err
	}
	defer db.Close()
	tables, setUp, err := missingIDIndexes(ctx, db)
	if err != nil {
		return false, err
	}
	for _, table := range tables {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (_ferretdb_sjson->'$._id')`,
			quoteIdent(idIndexPrefix+table), quoteIdent(table))
		if _, err := db.ExecContext(ctx, q); err != nil && !strings.Contains(err.Error(), "no such table") {
			return false, fmt.Errorf("index %s: %w", table, err)
		}
	}
	return setUp && len(tables) == 0, nil
}

// missingIDIndexes lists FerretDB's collection tables that lack the index,
// and reports whether FerretDB has set the file up.
func missingIDIndexes(ctx context.Context, db *sql.DB) (tables []string, setUp bool, err error) {
	rows, err := db.QueryContext(ctx, `SELECT c.table_name FROM _ferretdb_collections c
		WHERE NOT EXISTS (SELECT 1 FROM sqlite_master m WHERE m.type = 'index' AND m.name = ? || c.table_name)`, idIndexPrefix)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil, false, nil // FerretDB has not set the file up yet
		}
		return nil, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, false, err
		}
		tables = append(tables, t)
	}
	return tables, true, errors.Join(rows.Err(), rows.Close())
}

// fileLooks counts indexFile's looks (tests read it).
var fileLooks atomic.Int64

// quoteIdent quotes an SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
