package root

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dlqops/dlq/internal/render"
	"github.com/dlqops/dlq/internal/testenv"
)

// dlqArgs runs one invocation on exactly these arguments (the endpoint
// added, no --region).
func dlqArgs(t *testing.T, args ...string) result {
	t.Helper()
	ios, _, out, errOut := render.Test()
	dir := t.TempDir()
	env := func(k string) (string, bool) {
		if k == "XDG_CONFIG_HOME" || k == "XDG_STATE_HOME" {
			return dir, true
		}
		return "", false
	}
	code := Run(context.Background(), ios, env, append([]string{"--endpoint-url", testenv.Endpoint(t)}, args...), BuildInfo{Version: "test"})
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// An ARN names its region: the command works on the queue there, never on
// the queue of the same name in the configured region, and a --region that
// says otherwise is a usage error.
func TestQueueARNsKeepTheirRegion(t *testing.T) {
	t.Parallel()
	name := testenv.Name(t, "arn")
	eu := sqs.NewFromConfig(testenv.Config(t, "eu-west-1"))
	us := sqs.NewFromConfig(testenv.Config(t, "us-east-1"))
	euDLQ := testenv.CreateQueue(t, eu, name+"-dlq", nil)
	euSrc := testenv.CreateQueue(t, eu, name, testenv.Redrive(euDLQ.ARN, 3))
	usDLQ := testenv.CreateQueue(t, us, name+"-dlq", nil) // the same name in another region: a trap
	testenv.CreateQueue(t, us, name, testenv.Redrive(usDLQ.ARN, 3))
	testenv.Send(t, eu, euDLQ.URL, 2, `{"orderId":"o-eu"}`)
	testenv.Send(t, us, usDLQ.URL, 1, `{"orderId":"o-us"}`)
	if !strings.Contains(euDLQ.ARN, ":eu-west-1:") {
		t.Fatalf("ARN %s", euDLQ.ARN)
	}

	r := dlqArgs(t, "peek", euDLQ.ARN, "-o", "json")
	var msgs []peekedMessage
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &msgs) != nil {
		t.Fatalf("peek by ARN without --region: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	if len(msgs) != 2 || msgs[0].OrderID != "o-eu" {
		t.Fatalf("peek by eu-west-1 ARN read %+v, want the two eu-west-1 messages", msgs)
	}

	r = dlqArgs(t, "--region", "us-east-1", "replay", euDLQ.ARN, "--dry-run", "-o", "json")
	if r.code != 2 || !strings.Contains(r.stderr, "eu-west-1") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("replay of an eu-west-1 ARN with --region us-east-1: exit %d, stderr %q; want usage error 2 on one line", r.code, r.stderr)
	}
	r = dlqArgs(t, "replay", euDLQ.ARN, "--to", "arn:aws:sqs:ap-south-1:123456789012:"+name, "--dry-run")
	if r.code != 2 || !strings.Contains(r.stderr, "ap-south-1") {
		t.Fatalf("replay across regions: exit %d, stderr %q; want usage error 2", r.code, r.stderr)
	}

	r = dlqArgs(t, "replay", euDLQ.ARN, "--to", euSrc.ARN, "--dry-run", "-o", "json")
	var plan struct {
		Destination string
		Plan        struct{ Messages int }
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &plan) != nil || plan.Plan.Messages != 2 {
		t.Fatalf("dry run in eu-west-1: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}

	r = dlqArgs(t, "inspect", euDLQ.ARN, "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, euDLQ.ARN) || strings.Contains(r.stdout, usDLQ.ARN) {
		t.Fatalf("inspect by ARN: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	r = dlqArgs(t, "inspect", euDLQ.ARN, usDLQ.ARN)
	if r.code != 2 || !strings.Contains(r.stderr, "one region") {
		t.Fatalf("inspect across regions: exit %d, stderr %q", r.code, r.stderr)
	}
}

// A bare name beside an ARN of another region than AWS_REGION's would be
// looked up in the ARN's region: another queue than the one the user
// looked at. Refused.
func TestABareNameBesideAnARNOfAnotherRegionIsRefused(t *testing.T) { // not parallel: it sets AWS_REGION
	t.Setenv("AWS_REGION", "us-east-1")
	r := dlqArgs(t, "replay", "orders-dlq", "--to", "arn:aws:sqs:eu-west-1:123456789012:orders", "--dry-run")
	if r.code != 2 || !strings.Contains(r.stderr, "orders-dlq would be looked up there, not in us-east-1") {
		t.Fatalf("exit %d, stderr %q; want usage error 2", r.code, r.stderr)
	}
	t.Setenv("AWS_REGION", "eu-west-1")
	if r := dlqArgs(t, "replay", "orders-dlq", "--to", "arn:aws:sqs:eu-west-1:123456789012:orders", "--dry-run"); r.code == 2 {
		t.Fatalf("same region refused: %s", r.stderr)
	}
}
