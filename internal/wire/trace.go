package wire

import (
	"context"

	"go.opentelemetry.io/otel/trace"
)

func traceValid(ctx context.Context) bool {
	return trace.SpanContextFromContext(ctx).IsValid()
}
