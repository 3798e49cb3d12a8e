package xray

import "testing"

const id = "1-5759e988-bd862e3fe1be46a994272793"

func TestFromHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header, want string
	}{
		{"Root=" + id + ";Parent=53995c3f42cd8ad8;Sampled=1", id},
		{"Parent=53995c3f42cd8ad8;Sampled=1;Root=" + id, id},
		{"Sampled=0;Root=" + id + ";Parent=53995c3f42cd8ad8", id},
		{"Root=" + id, id},
		{" Root=" + id + " ; Sampled=1 ", id},
		{"Root=" + id + ";Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|68fd508a:5", id},
		// ALB's Self has the shape of a trace ID; only Root names the trace.
		{"Self=1-67891234-12456789abcdef0123456789;Root=" + id, id},
		{"Root=1-5759E988-BD862E3FE1BE46A994272793", id}, // canonical: lowercase

		// Malformed: no trace ID.
		{"", ""},
		{"Parent=53995c3f42cd8ad8;Sampled=1", ""},
		{"Self=" + id, ""},
		{"root=" + id, ""},
		{"Root", ""},
		{"Root=", ""},
		{"Root=2-5759e988-bd862e3fe1be46a994272793", ""},
		{"Root=1-5759e988-bd862e3fe1be46a99427279", ""},
		{"Root=1-5759e988-bd862e3fe1be46a9942727930", ""},
		{"Root=1-5759e988bd862e3fe1be46a994272793", ""},
		{"Root=1_5759e988-bd862e3fe1be46a994272793", ""},
		{"Root=1-5759e98g-bd862e3fe1be46a994272793", ""},
		{"Root=1-00000000-000000000000000000000000", ""},
		{"Root=4bf92f3577b34da6a3ce929d0e0e4736", ""},
		{"Root=not-a-trace;Parent=53995c3f42cd8ad8", ""},
		{"garbage;;;==", ""},
	} {
		got, ok := FromHeader(tc.header)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("FromHeader(%q) = %q, %v; want %q", tc.header, got, ok, tc.want)
		}
	}
}

func TestFromTraceparent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tp, want string
	}{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "1-4bf92f35-77b34da6a3ce929d0e0e4736"},
		{"00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-00", id},
		{" 00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01 ", id},
		// A later version is read by version 00's fields, and may add more.
		{"01-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01", id},
		{"cc-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01-what-comes-next", id},

		{"", ""},
		{"00-00000000000000000000000000000000-53995c3f42cd8ad8-01", ""}, // all-zero trace-id
		{"00-5759e988bd862e3fe1be46a994272793-0000000000000000-01", ""}, // all-zero parent-id
		{"ff-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01", ""}, // forbidden version
		{"0g-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01", ""}, // not hex
		{"0-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01", ""},
		{"000-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01", ""},
		{"00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01-extra", ""}, // version 00 ends at its flags
		{"cc-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01.extra", ""},
		{"00-5759E988BD862E3FE1BE46A994272793-53995c3f42cd8ad8-01", ""}, // uppercase is invalid in traceparent
		{"00-5759e988bd862e3fe1be46a99427279-353995c3f42cd8ad8-01", ""},
		{"00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-0x", ""},
		{"00_5759e988bd862e3fe1be46a994272793_53995c3f42cd8ad8_01", ""},
		{"Root=" + id, ""},
	} {
		got, ok := FromTraceparent(tc.tp)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("FromTraceparent(%q) = %q, %v; want %q", tc.tp, got, ok, tc.want)
		}
	}
}

// The AWSTraceHeader wins over a traceparent; a malformed one does not
// hide a valid traceparent; the first valid traceparent wins.
func TestResolvePrecedence(t *testing.T) {
	t.Parallel()
	const (
		header = "Root=" + id + ";Parent=53995c3f42cd8ad8;Sampled=1"
		tpA    = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		xrayA  = "1-4bf92f35-77b34da6a3ce929d0e0e4736"
		tpB    = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
		xrayB  = "1-0af76519-16cd43dd8448eb211c80319c"
	)
	for _, tc := range []struct {
		name   string
		header string
		tps    []string
		want   string
	}{
		{"header alone", header, nil, id},
		{"header beats traceparent", header, []string{tpA}, id},
		{"traceparent alone", "", []string{tpA}, xrayA},
		{"malformed header: traceparent", "Root=nope;Sampled=1", []string{tpA}, xrayA},
		{"first traceparent wins", "", []string{tpB, tpA}, xrayB},
		{"invalid traceparent skipped", "", []string{"ff-" + tpB[3:], "", tpA}, xrayA},
		{"nothing valid", "Parent=53995c3f42cd8ad8", []string{"00-00000000000000000000000000000000-00f067aa0ba902b7-01"}, ""},
		{"nothing", "", nil, ""},
	} {
		if got := Resolve(tc.header, tc.tps...); got != tc.want {
			t.Errorf("%s: Resolve = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
	}{
		{id, id},
		{"  " + id + "\n", id},
		{"1-5759E988-BD862E3FE1BE46A994272793", id},
		{"Root=" + id + ";Parent=53995c3f42cd8ad8;Sampled=1", id},
		{"Sampled=1;Root=" + id, id},
		{"X-Amzn-Trace-Id: Root=" + id + ";Sampled=1", id},
		{"x-amzn-trace-id:Root=" + id, id},

		{"4bf92f3577b34da6", ""},
		{"2ae037ee-b50a-4862-857e-8ec152ade5a9", ""}, // a dlq traceId (UUID)
		{"order-1042", ""},
		{"1-5759e988-bd862e3fe1be46a99427279", ""},
		{"Traceparent: Root=" + id, ""},
	} {
		got, ok := Parse(tc.in)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("Parse(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	if h := Header(id); h != "Root="+id {
		t.Errorf("Header = %q", h)
	}
	if got, ok := FromHeader(Header(id)); !ok || got != id {
		t.Errorf("Header does not read back: %q %v", got, ok)
	}
}
