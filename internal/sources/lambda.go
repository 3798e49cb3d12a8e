package sources

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"golang.org/x/sync/errgroup"
)

// LambdaAPI is the part of the Lambda client discovery calls.
type LambdaAPI interface {
	ListFunctions(context.Context, *lambda.ListFunctionsInput, ...func(*lambda.Options)) (*lambda.ListFunctionsOutput, error)
	ListFunctionEventInvokeConfigs(context.Context, *lambda.ListFunctionEventInvokeConfigsInput, ...func(*lambda.Options)) (*lambda.ListFunctionEventInvokeConfigsOutput, error)
}

// latest is the qualifier of a function's unpublished version.
const latest = "$LATEST"

// functions is what discovery learnt of the account's Lambda functions:
// which qualifiers keep events that failed every retry. A function whose
// event-invoke configs could not be read is unknown, and not judged.
type functions struct {
	read    bool
	kept    map[string]map[string]bool // function name → qualifier → kept
	unknown map[string]bool
}

// discoverLambda reads every function version (a DLQ is part of a
// version's configuration, locked in when it is published) and every
// function's event-invoke configs (one per qualifier): a Source per DLQ
// and per on-failure destination.
func discoverLambda(ctx context.Context, api LambdaAPI, concurrency int, d *denials) ([]Source, *functions, error) {
	fns := &functions{kept: map[string]map[string]bool{}, unknown: map[string]bool{}}
	versions, err := listFunctionVersions(ctx, api)
	if err != nil {
		return nil, fns, d.note(err, "Lambda functions' DLQs and on-failure destinations were not read")
	}
	fns.read = true
	byName := map[string][]types.FunctionConfiguration{}
	for _, v := range versions {
		name := aws.ToString(v.FunctionName)
		byName[name] = append(byName[name], v)
		fns.keep(name, qualifierOf(v), false)
	}
	var (
		mu  sync.Mutex
		out []Source
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for name, vs := range byName {
		g.Go(func() error {
			configs, err := eventInvokeConfigs(gctx, api, name)
			if IsNotFound(err) {
				return nil // deleted since it was listed
			}
			if err != nil {
				if err := d.note(err, "those functions' on-failure destinations and retry settings were not read"); err != nil {
					return err
				}
				mu.Lock()
				fns.unknown[name] = true
				mu.Unlock()
			}
			s := functionSources(name, vs, configs)
			mu.Lock()
			defer mu.Unlock()
			for _, src := range s {
				fns.keep(name, src.Lambda.Qualifier, src.DLQ != "")
			}
			out = append(out, s...)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return out, fns, nil
}

func (f *functions) keep(name, qualifier string, kept bool) {
	if f.kept[name] == nil {
		f.kept[name] = map[string]bool{}
	}
	f.kept[name][qualifier] = f.kept[name][qualifier] || kept
}

func listFunctionVersions(ctx context.Context, api LambdaAPI) ([]types.FunctionConfiguration, error) {
	var out []types.FunctionConfiguration
	p := lambda.NewListFunctionsPaginator(api, &lambda.ListFunctionsInput{FunctionVersion: types.FunctionVersionAll})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list functions: %w", err)
		}
		out = append(out, page.Functions...)
	}
	return out, nil
}

func eventInvokeConfigs(ctx context.Context, api LambdaAPI, name string) ([]types.FunctionEventInvokeConfig, error) {
	var out []types.FunctionEventInvokeConfig
	p := lambda.NewListFunctionEventInvokeConfigsPaginator(api, &lambda.ListFunctionEventInvokeConfigsInput{FunctionName: aws.String(name)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list event invoke configs of function %s: %w", name, err)
		}
		out = append(out, page.FunctionEventInvokeConfigs...)
	}
	return out, nil
}

// functionSources are a function's DLQs (per version) and on-failure
// destinations (per qualifier), each with the retry settings of its
// qualifier.
func functionSources(name string, versions []types.FunctionConfiguration, configs []types.FunctionEventInvokeConfig) []Source {
	retries := map[string]*Retry{}
	var out []Source
	for _, c := range configs {
		arn := aws.ToString(c.FunctionArn)
		q := qualifierOfARN(arn)
		retry := &Retry{MaximumRetryAttempts: c.MaximumRetryAttempts, MaximumEventAgeInSeconds: c.MaximumEventAgeInSeconds}
		retries[q] = retry
		if c.DestinationConfig == nil || c.DestinationConfig.OnFailure == nil || aws.ToString(c.DestinationConfig.OnFailure.Destination) == "" {
			continue
		}
		out = append(out, lambdaSource(unqualified(arn), name, q, ViaOnFailure, aws.ToString(c.DestinationConfig.OnFailure.Destination), retry))
	}
	for _, v := range versions {
		if v.DeadLetterConfig == nil || aws.ToString(v.DeadLetterConfig.TargetArn) == "" {
			continue
		}
		q := qualifierOf(v)
		out = append(out, lambdaSource(unqualified(aws.ToString(v.FunctionArn)), name, q, ViaDLQ, aws.ToString(v.DeadLetterConfig.TargetArn), retries[q]))
	}
	return out
}

func lambdaSource(functionARN, name, qualifier string, via Via, dlq string, retry *Retry) Source {
	display := name
	if qualifier != latest {
		display += ":" + qualifier
	}
	return Source{
		Kind: KindLambda, ARN: functionARN + ":" + qualifier, Name: display, DLQ: dlq,
		Lambda: &AsyncConfig{Function: name, Qualifier: qualifier, Via: via, Retry: retry},
	}
}

func qualifierOf(v types.FunctionConfiguration) string {
	if q := aws.ToString(v.Version); q != "" {
		return q
	}
	return qualifierOfARN(aws.ToString(v.FunctionArn))
}

// qualifierOfARN is the qualifier of a function ARN
// (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]), $LATEST when
// it has none.
func qualifierOfARN(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) == 8 && parts[7] != "" {
		return parts[7]
	}
	return latest
}

// unqualified is a function ARN without its qualifier.
func unqualified(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) > 7 {
		return strings.Join(parts[:7], ":")
	}
	return arn
}

// functionName is the name in a function ARN, "" when arn is not one.
func functionName(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) < 7 || parts[2] != "lambda" || parts[5] != "function" {
		return ""
	}
	return parts[6]
}
