package queue

import (
	"encoding/json"
	"testing"
)

func TestParseRef(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Ref
		wantErr bool
	}{
		{in: "orders-dlq", want: Ref{Name: "orders-dlq"}},
		{in: "orders-dlq.fifo", want: Ref{Name: "orders-dlq.fifo"}},
		{in: "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-dlq", want: Ref{Name: "orders-dlq", URL: "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-dlq", Account: "123456789012", Region: "eu-west-1"}},
		{in: "https://ap-south-1.queue.amazonaws.com/123456789012/orders-dlq", want: Ref{Name: "orders-dlq", URL: "https://ap-south-1.queue.amazonaws.com/123456789012/orders-dlq", Account: "123456789012", Region: "ap-south-1"}},
		{in: "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/orders-dlq", want: Ref{Name: "orders-dlq", URL: "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/orders-dlq", Account: "123456789012", Region: "cn-north-1"}},
		{in: "http://sqs.us-east-1.localhost:4566/000000000000/q", want: Ref{Name: "q", URL: "http://sqs.us-east-1.localhost:4566/000000000000/q", Account: "000000000000"}},
		{in: "http://127.0.0.1:5000/000000000000/q_1", want: Ref{Name: "q_1", URL: "http://127.0.0.1:5000/000000000000/q_1", Account: "000000000000"}},
		{in: "arn:aws:sqs:eu-west-1:123456789012:orders-dlq", want: Ref{Name: "orders-dlq", ARN: "arn:aws:sqs:eu-west-1:123456789012:orders-dlq", Account: "123456789012", Region: "eu-west-1"}},
		{in: "arn:aws-us-gov:sqs:us-gov-west-1:123456789012:q", want: Ref{Name: "q", ARN: "arn:aws-us-gov:sqs:us-gov-west-1:123456789012:q", Account: "123456789012", Region: "us-gov-west-1"}},
		{in: "arn:aws:sqs::123456789012:orders-dlq", wantErr: true},
		{in: "", wantErr: true},
		{in: "orders dlq", wantErr: true},
		{in: "orders/dlq", wantErr: true},
		{in: "arn:aws:sns:eu-west-1:123456789012:topic", wantErr: true},
		{in: "arn:aws:sqs:eu-west-1:123456789012", wantErr: true},
		{in: "https://sqs.eu-west-1.amazonaws.com/", wantErr: true},
		{in: "a123456789012345678901234567890123456789012345678901234567890123456789012345678901", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseRef(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseRef(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseRef(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestRedrivePolicyAcceptsNumberOrString(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:d","maxReceiveCount":"7"}`,
		`{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:d","maxReceiveCount":7}`,
	} {
		var p RedrivePolicy
		if err := json.Unmarshal([]byte(in), &p); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if p.MaxReceiveCount != 7 || p.DeadLetterTargetARN != "arn:aws:sqs:us-east-1:1:d" {
			t.Errorf("%s: got %+v", in, p)
		}
	}
	var p RedrivePolicy
	if err := json.Unmarshal([]byte(`{"maxReceiveCount":"many"}`), &p); err == nil {
		t.Error("want an error for a non-numeric maxReceiveCount")
	}
}

func TestWarnings(t *testing.T) {
	t.Parallel()
	d := DeadLetterQueue{
		Queue:  Queue{Name: "d", RetentionSeconds: 1209600},
		Exists: true,
		Sources: []Source{
			{Queue: Queue{Name: "s1", RetentionSeconds: 345600}, MaxReceiveCount: 5},
		},
	}
	if w := d.Warnings(); len(w) != 0 {
		t.Errorf("healthy DLQ warnings = %q", w)
	}
	d.Sources[0].RetentionSeconds = 1209600
	d.Visible, d.InFlight = 1, 1
	w := d.Warnings()
	if len(w) != 2 || w[0] != "holds 2 messages" {
		t.Errorf("warnings = %q", w)
	}
}
