package render

import "github.com/dlqops/dlq/internal/humanize"

// Count is n and the noun in the number n needs: "1 DLQ", "3 DLQs",
// "1 query", "2 queries" (humanize.Count).
func Count(n int, noun string, plural ...string) string { return humanize.Count(n, noun, plural...) }
