package sources

import "testing"

// Which queue policies let EventBridge send for a rule: the statements
// AWS's documentation gives, and the ways they go wrong.
func TestAllowsSend(t *testing.T) {
	t.Parallel()
	const (
		rule  = "arn:aws:events:eu-west-1:123456789012:rule/orders/ship"
		queue = "arn:aws:sqs:eu-west-1:123456789012:orders-shipping-dlq"
	)
	for _, tt := range []struct {
		name   string
		policy string
		want   bool
	}{
		{"no policy", "", false},
		{"the documented statement", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"` + queue + `","Condition":{"ArnEquals":{"aws:SourceArn":"` + rule + `"}}}]}`, true},
		{"one statement, not a list", `{"Statement":{"Effect":"Allow","Principal":{"Service":["sns.amazonaws.com","events.amazonaws.com"]},"Action":["sqs:*"],"Resource":"*"}}`, true},
		{"another rule", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"sqs:SendMessage","Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:events:eu-west-1:123456789012:rule/orders/other"}}}]}`, false},
		{"every rule of the bus", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"sqs:SendMessage","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:events:eu-west-1:123456789012:rule/orders/*"}}}]}`, true},
		{"the account", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"sqs:SendMessage","Condition":{"StringEquals":{"aws:SourceAccount":"123456789012"}}}]}`, true},
		{"another service", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"sqs:SendMessage"}]}`, false},
		{"another action", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"sqs:ReceiveMessage"}]}`, false},
		{"another queue", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"arn:aws:sqs:eu-west-1:123456789012:other"}]}`, false},
		{"anyone", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"SQS:SendMessage","Resource":"*"}]}`, true},
		{"denied after allowed", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:*"},{"Effect":"Deny","Principal":"*","Action":"sqs:SendMessage","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:events:*"}}}]}`, false},
		{"a condition dlq cannot judge", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"sqs:SendMessage","Condition":{"StringEquals":{"aws:SourceOrgID":"o-1"}}}]}`, true},
		{"a policy that does not parse", `{"Statement":`, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := allowsSend(tt.policy, eventsPrincipal, rule, queue); got != tt.want {
				t.Errorf("allowsSend = %v, want %v", got, tt.want)
			}
		})
	}
}
