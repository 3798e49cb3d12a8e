package testenv

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// Rule creates an EventBridge rule on bus with the targets, and deletes
// both when the test ends. It returns the rule's ARN.
func Rule(t testing.TB, c *eventbridge.Client, bus, name string, targets ...ebtypes.Target) string {
	t.Helper()
	ctx := context.Background()
	out, err := c.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventBusName: aws.String(bus), EventPattern: aws.String(`{"source":["orders"]}`)})
	if err != nil {
		t.Fatalf("put rule %s: %v", name, err)
	}
	if _, err := c.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), EventBusName: aws.String(bus), Targets: targets}); err != nil {
		t.Fatalf("put targets of rule %s: %v", name, err)
	}
	t.Cleanup(func() {
		ids := make([]string, 0, len(targets))
		for _, tg := range targets {
			ids = append(ids, aws.ToString(tg.Id))
		}
		_, _ = c.RemoveTargets(context.Background(), &eventbridge.RemoveTargetsInput{Rule: aws.String(name), EventBusName: aws.String(bus), Ids: ids})
		_, _ = c.DeleteRule(context.Background(), &eventbridge.DeleteRuleInput{Name: aws.String(name), EventBusName: aws.String(bus)})
	})
	return aws.ToString(out.RuleArn)
}

// EventBus creates an event bus dead-lettering into dlqARN ("" none) and
// deletes it when the test ends.
func EventBus(t testing.TB, c *eventbridge.Client, name, dlqARN string) string {
	t.Helper()
	in := &eventbridge.CreateEventBusInput{Name: aws.String(name)}
	if dlqARN != "" {
		in.DeadLetterConfig = &ebtypes.DeadLetterConfig{Arn: aws.String(dlqARN)}
	}
	out, err := c.CreateEventBus(context.Background(), in)
	if err != nil {
		t.Fatalf("create event bus %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = c.DeleteEventBus(context.Background(), &eventbridge.DeleteEventBusInput{Name: aws.String(name)})
	})
	return aws.ToString(out.EventBusArn)
}

// Topic creates an SNS topic and deletes it when the test ends.
func Topic(t testing.TB, c *sns.Client, name string) string {
	t.Helper()
	out, err := c.CreateTopic(context.Background(), &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	t.Cleanup(func() { _, _ = c.DeleteTopic(context.Background(), &sns.DeleteTopicInput{TopicArn: out.TopicArn}) })
	return aws.ToString(out.TopicArn)
}

// Subscribe subscribes endpoint to a topic with the attributes
// (RedrivePolicy, RawMessageDelivery) and returns the subscription's ARN.
func Subscribe(t testing.TB, c *sns.Client, topicARN, protocol, endpoint string, attrs map[string]string) string {
	t.Helper()
	out, err := c.Subscribe(context.Background(), &sns.SubscribeInput{TopicArn: aws.String(topicARN), Protocol: aws.String(protocol),
		Endpoint: aws.String(endpoint), Attributes: attrs, ReturnSubscriptionArn: true})
	if err != nil {
		t.Fatalf("subscribe %s to %s: %v", endpoint, topicARN, err)
	}
	return aws.ToString(out.SubscriptionArn)
}

// Function creates a Lambda function (a role for it too: moto checks that
// the role exists; it runs no code, so the package is a stub) and deletes
// it when the test ends. It returns the function's ARN.
func Function(t testing.TB, cfg aws.Config, name string) string {
	t.Helper()
	ctx := context.Background()
	role := LambdaRole(t, cfg, name+"-role")
	c := lambda.NewFromConfig(cfg)
	out, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String(name), Runtime: ltypes.RuntimeProvidedal2023,
		Handler: aws.String("bootstrap"), Role: aws.String(role), Code: &ltypes.FunctionCode{ZipFile: StubPackage()}})
	if err != nil {
		t.Fatalf("create function %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = c.DeleteFunction(context.Background(), &lambda.DeleteFunctionInput{FunctionName: aws.String(name)})
	})
	return aws.ToString(out.FunctionArn)
}

// LambdaRole creates a role Lambda may assume (moto checks that a
// function's role exists), deleted when the test ends, and returns its ARN.
func LambdaRole(t testing.TB, cfg aws.Config, name string) string {
	t.Helper()
	c := iam.NewFromConfig(cfg)
	role, err := c.CreateRole(context.Background(), &iam.CreateRoleInput{RoleName: aws.String(name),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)})
	if err != nil {
		t.Fatalf("create role %s: %v", name, err)
	}
	t.Cleanup(func() { _, _ = c.DeleteRole(context.Background(), &iam.DeleteRoleInput{RoleName: aws.String(name)}) })
	return aws.ToString(role.Role.Arn)
}

// StubPackage is a function package whose bootstrap exits 1: moto runs no
// code, so nothing more is needed.
func StubPackage() []byte {
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	w, _ := zw.Create("bootstrap")
	_, _ = w.Write([]byte("#!/bin/sh\nexit 1\n"))
	_ = zw.Close()
	return zipped.Bytes()
}

// OnFailure gives a function's asynchronous invocations an on-failure
// destination and retry settings.
func OnFailure(t testing.TB, c *lambda.Client, function, destination string, retries int32) {
	t.Helper()
	if _, err := c.PutFunctionEventInvokeConfig(context.Background(), &lambda.PutFunctionEventInvokeConfigInput{
		FunctionName: aws.String(function), MaximumRetryAttempts: aws.Int32(retries),
		DestinationConfig: &ltypes.DestinationConfig{OnFailure: &ltypes.OnFailure{Destination: aws.String(destination)}},
	}); err != nil {
		t.Fatalf("put event invoke config of %s: %v", function, err)
	}
}

// SendPolicy is a queue policy letting service (events.amazonaws.com,
// sns.amazonaws.com) send to the queue for sourceARN.
func SendPolicy(service, sourceARN string) map[string]string {
	return map[string]string{"Policy": fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":%q},"Action":"sqs:SendMessage","Resource":"*","Condition":{"ArnEquals":{"aws:SourceArn":%q}}}]}`, service, sourceARN)}
}

// FunctionDLQ sets a function's DLQ for asynchronous invocations and
// publishes a version, which keeps it. (moto keeps it only through
// internal/emulator's patch.)
func FunctionDLQ(t testing.TB, c *lambda.Client, function, dlqARN string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(function),
		DeadLetterConfig: &ltypes.DeadLetterConfig{TargetArn: aws.String(dlqARN)}}); err != nil {
		t.Fatalf("set DLQ of %s: %v", function, err)
	}
	if _, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(function)}); err != nil {
		t.Fatalf("publish %s: %v", function, err)
	}
}
