package embedmongo

// WithoutIDIndexes leaves FerretDB's tables without the id indexer's
// index, for benchmarks to compare.
func WithoutIDIndexes() Option { return func(o *options) { o.noIDIndexes = true } }

// FileLooks returns how many times the id indexer has opened a database
// file to look for tables without the index.
func FileLooks() int64 { return fileLooks.Load() }
