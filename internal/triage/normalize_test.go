package triage

import "testing"

func TestNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"request ids masked, status kept", "payment provider: HTTP 503 (request 4f1c9a0b)", "payment provider: HTTP 503 (request <id>)"},
		{"all-digit hex request id", "payment provider: HTTP 503 (request 40119278)", "payment provider: HTTP 503 (request <id>)"},
		{"hex id ending like a unit", "request 0002899b and 0006299d", "request <id> and <id>"},
		{"uuid", "charge 6f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b rejected", "charge <uuid> rejected"},
		{"quoted value and order id", "invalid currency 'XYZ' in order o-7", "invalid currency '<str>' in order <id>"},
		{"double quotes and order-123", `invalid currency "ABC" in order order-123`, `invalid currency "<str>" in order <id>`},
		{"escaped quote inside", `bad value "a \"b\" c" here`, `bad value "<str>" here`},
		{"apostrophes are not quotes", "can't charge: customer's card declined", "can't charge: customer's card declined"},
		{"unclosed quote kept", "it said 'hello", "it said 'hello"},
		{"empty quotes kept", "name is ''", "name is ''"},
		{"numbers and units", "Task timed out after 3.00 seconds", "Task timed out after <n> seconds"},
		{"durations", "gave up after 30s and 250ms", "gave up after <n>s and <n>ms"},
		{"long numbers are ids", "account 123456789012 not allowed", "account <id> not allowed"},
		{"status code kept", "status code: 429 from provider", "status code: 429 from provider"},
		{"http version", "HTTP/1.1 502 Bad Gateway", "HTTP/<n> 502 Bad Gateway"},
		{"other 3-digit numbers masked", "retried 503 times", "retried <n> times"},
		{"timestamps", "expired at 2026-11-26T18:33:58.123Z", "expired at <time>"},
		{"hex address", "nil pointer at 0x7f3a9c", "nil pointer at <id>"},
		{"base32 request id", "throttled: request C3VJ7Q2M4NXK", "throttled: request <id>"},
		{"names with digits kept", "s3 and ec2 over ipv6 with sha256", "s3 and ec2 over ipv6 with sha256"},
		{"regions and arns", "arn:aws:lambda:eu-west-1:123456789012:function:orders", "arn:aws:lambda:<id>:function:orders"},
		{"whitespace collapsed", "line one\n\tline   two ", "line one line two"},
		{"json keys are quoted values", `{"amount": 12}`, `{"<str>": <n>}`},
		{"no digits untouched", "Internal Server Error", "Internal Server Error"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Normalize(tt.in)
			if got != tt.want {
				t.Errorf("Normalize(%q)\n = %q\nwant %q", tt.in, got, tt.want)
			}
			if again := Normalize(got); again != got {
				t.Errorf("Normalize is not idempotent: %q → %q", got, again)
			}
		})
	}
}

func TestNormalizeGroupsOneCauseAndSeparatesOthers(t *testing.T) {
	t.Parallel()
	same := [][]string{
		{"HTTP 503 (request 4f1c0a9b)", "HTTP 503 (request 9a0b77e2)", "HTTP 503 (request 12345678)", "HTTP 503 (request deadbeef01)"},
		{"invalid currency 'XYZ' in order o-7", "invalid currency 'ABC' in order o-1234", "invalid currency 'X Y' in order order-99"},
		{"timed out after 3.00 seconds", "timed out after 29.5 seconds"},
	}
	for _, set := range same {
		for _, s := range set[1:] {
			if a, b := Normalize(set[0]), Normalize(s); a != b {
				t.Errorf("%q and %q normalise apart: %q vs %q", set[0], s, a, b)
			}
		}
	}
	different := [][2]string{
		{"HTTP 503 (request 4f1c0a9b)", "HTTP 400 (request 4f1c0a9b)"},
		{"HTTP 503 (request 4f1c0a9b)", "invalid currency 'XYZ' in order o-7"},
		{"card declined", "card expired"},
	}
	for _, d := range different {
		if Normalize(d[0]) == Normalize(d[1]) {
			t.Errorf("%q and %q normalise together: %q", d[0], d[1], Normalize(d[0]))
		}
	}
}

func TestCauseIDIsStableAndShort(t *testing.T) {
	t.Parallel()
	// Pinned: the first 6 hex digits of sha256("STEP\x00ERROR"), computed
	// outside Go (printf 'charge\x00...' | sha256sum). An ID must not
	// change between runs or releases: a runbook may name it.
	tests := []struct{ step, err, want string }{
		{"charge", "payment provider: HTTP 503 (request <id>)", "959df6"},
		{"validate", "invalid currency '<str>' in order <id>", "d797a9"},
		{"", UnknownError, "b1b6b3"},
		{StepLambda, "200: boom", "80cd21"},
	}
	for _, tt := range tests {
		if got := CauseID(tt.step, tt.err); got != tt.want {
			t.Errorf("CauseID(%q, %q) = %q, want %q", tt.step, tt.err, got, tt.want)
		}
	}
	// Step and error are kept apart: moving text between them is another cause.
	if CauseID("a", "b c") == CauseID("a b", "c") {
		t.Error("step and error run together in the ID")
	}
}
