package embedmongo

// WithoutIDIndexes leaves FerretDB's tables without the id indexer's
// index, for benchmarks to compare.
func WithoutIDIndexes() Option { return func(o *options) { o.noIDIndexes = true } }
