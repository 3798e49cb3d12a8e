// Command failfn is a Lambda for testenv's own tests: it returns its event,
// or fails with the event's "fail" field as the error message when it has
// one.
package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/aws/aws-lambda-go/lambda"
)

func handle(_ context.Context, event json.RawMessage) (json.RawMessage, error) {
	var e struct {
		Fail string `json:"fail"`
	}
	if json.Unmarshal(event, &e) == nil && e.Fail != "" {
		return nil, errors.New(e.Fail)
	}
	return event, nil
}

func main() { lambda.Start(handle) }
