package sources

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// denials collects the permissions discovery was refused, so that it goes
// on without what they guard and says what it did not read. A role that
// may read SQS but not Lambda still sees its queues' DLQs.
type denials struct {
	mu sync.Mutex
	by map[string]*denial // by permission
}

type denial struct {
	code        string
	times       int
	consequence string
}

// note returns err unless the service refused it for want of permission;
// a refusal is kept, with what was not read because of it, and nil
// returned.
func (d *denials) note(err error, consequence string) error {
	perm, code, ok := deniedPermission(err)
	if !ok {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.by == nil {
		d.by = map[string]*denial{}
	}
	if n := d.by[perm]; n != nil {
		n.times++
		return nil
	}
	d.by[perm] = &denial{code: code, times: 1, consequence: consequence}
	return nil
}

// warnings are one line per permission refused.
func (d *denials) warnings() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	perms := make([]string, 0, len(d.by))
	for p := range d.by {
		perms = append(perms, p)
	}
	sort.Strings(perms)
	w := make([]string, 0, len(perms))
	for _, p := range perms {
		n := d.by[p]
		times := ""
		if n.times > 1 {
			times = fmt.Sprintf(" %d times", n.times)
		}
		w = append(w, fmt.Sprintf("%s denied%s (%s): %s; grant it to see every DLQ (docs/iam.md)", p, times, n.code, n.consequence))
	}
	return w
}

// iamPrefixes are the IAM action prefixes of the SDK's service IDs.
func iamPrefix(serviceID string) string {
	switch serviceID {
	case "EventBridge":
		return "events"
	case "SNS":
		return "sns"
	case "Lambda":
		return "lambda"
	case "SQS":
		return "sqs"
	}
	return strings.ToLower(serviceID)
}

// deniedPermission reports whether err is a service refusing a call for
// want of permission, and the IAM action refused. Expired or missing
// credentials are not: they stop the command (exit 4) instead.
func deniedPermission(err error) (perm, code string, ok bool) {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return "", "", false
	}
	code = apiErr.ErrorCode()
	var re *awshttp.ResponseError
	forbidden := errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden
	switch {
	case strings.Contains(code, "AccessDenied"), code == "AuthorizationError", code == "UnauthorizedOperation":
	case forbidden && !strings.Contains(code, "Token") && !strings.Contains(code, "Signature") && code != "InvalidClientTokenId":
	default:
		return "", "", false
	}
	var opErr *smithy.OperationError
	if !errors.As(err, &opErr) {
		return "an AWS call", code, true
	}
	return iamPrefix(opErr.ServiceID) + ":" + opErr.OperationName, code, true
}

// isNotFound reports whether err is a service saying the resource is gone:
// deleted between being listed and being read.
// IsNotFound reports whether the service says the resource does not
// exist (ResourceNotFoundException, NotFound and the like).
func IsNotFound(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && strings.Contains(apiErr.ErrorCode(), "NotFound")
}
