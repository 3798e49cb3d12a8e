package spool

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/dlqops/dlq/internal/queue"
)

// A spool record reads back exactly what was written, and a record cut
// short or followed by stray bytes is an error, never a panic or a
// message with parts missing.
func TestSpoolRecordRoundTripsAndRejectsDamage(t *testing.T) {
	t.Parallel()
	for _, m := range []queue.Message{
		{},
		{Body: "plain"},
		{Body: strings.Repeat("é", 70000), Attributes: map[string]queue.Attribute{
			"bin": {Type: "Binary", Binary: []byte{0, 1, 2, 255}}, "s": {Type: "String.custom", String: "v"}, "n": {Type: "Number", String: "12"}, "": {Type: "String"}},
			System: map[string]string{"AWSTraceHeader": "Root=1-abc", "MessageDeduplicationId": "", "SentTimestamp": "1700000000123"}},
	} {
		rec := AppendRecord(nil, &m)
		var got queue.Message
		if err := ReadRecord(rec, &got); err != nil {
			t.Fatal(err)
		}
		if got.Body != m.Body || !maps.EqualFunc(got.Attributes, m.Attributes, func(a, b queue.Attribute) bool {
			return a.Type == b.Type && a.String == b.String && bytes.Equal(a.Binary, b.Binary)
		}) || !maps.Equal(got.System, m.System) {
			t.Fatalf("read back %+v, want %+v", got, m)
		}
		for cut := range len(rec) {
			if err := ReadRecord(rec[:cut], &queue.Message{}); !errors.Is(err, ErrRecord) {
				t.Fatalf("a record cut at %d of %d bytes read as %v", cut, len(rec), err)
			}
		}
		if err := ReadRecord(append(rec, 0), &queue.Message{}); !errors.Is(err, ErrRecord) {
			t.Fatalf("a record with a stray byte read as %v", err)
		}
	}
}
