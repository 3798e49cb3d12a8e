package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"

	"github.com/dlqops/dlq/internal/queue"
	"github.com/dlqops/dlq/internal/render"
)

// Factory builds what commands depend on, lazily: nothing touches AWS
// configuration until a command asks for a client, so `dlq --help` and
// `dlq version` work anywhere.
type Factory struct {
	IOStreams *render.IOStreams
	// Settings resolves the global options; valid once flags are parsed.
	Settings func() (Settings, error)
	// AWSConfig loads the AWS configuration once for the process.
	AWSConfig func(context.Context) (aws.Config, error)
	// SQS, CloudWatch, Logs, SNS, EventBridge and Lambda build clients
	// from AWSConfig.
	SQS         func(context.Context) (*sqs.Client, error)
	CloudWatch  func(context.Context) (*cloudwatch.Client, error)
	Logs        func(context.Context) (*cloudwatchlogs.Client, error)
	SNS         func(context.Context) (*sns.Client, error)
	EventBridge func(context.Context) (*eventbridge.Client, error)
	Lambda      func(context.Context) (*lambda.Client, error)
	// StepFunctions builds a Step Functions client (replay's destinations).
	StepFunctions func(context.Context) (*sfn.Client, error)
	// Now is the clock, replaceable in tests.
	Now func() time.Time
	// Env looks up environment variables (XDG directories and the like).
	Env render.Env

	// queueRegion is the region the command's queues name (UseQueueRegion).
	queueRegion string
	// commandCtx is the command's context under --timeout (LimitCommand).
	commandCtx context.Context
	timeout    time.Duration
}

// LimitCommand puts the command under the --timeout of s: its context ends
// then, and the command stops as it does on Ctrl-C (a replay gives back
// what it holds).
func (f *Factory) LimitCommand(ctx context.Context, s Settings) context.Context {
	if s.Timeout <= 0 {
		return ctx
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	context.AfterFunc(ctx, cancel) // the timer goes with the context
	f.commandCtx, f.timeout = ctx, s.Timeout
	return ctx
}

// TimedOut reports whether the command ran out of its --timeout, and what
// that was.
func (f *Factory) TimedOut() (time.Duration, bool) {
	if f.commandCtx == nil || !errors.Is(f.commandCtx.Err(), context.DeadlineExceeded) {
		return 0, false
	}
	return f.timeout, true
}

// UseQueueRegion makes every client the command builds use the region its
// queue arguments name: an ARN, or an AWS queue URL, says where the queue
// is, and a queue of the same name in another region is another queue.
// Queues in different regions, or a region that conflicts with --region
// (DLQ_REGION, the context's region), are usage errors. Arguments that do
// not parse are left to the command's own validation. Call it before the
// first client is built.
func (f *Factory) UseQueueRegion(args ...string) error {
	region, from, bare := "", "", ""
	for _, a := range args {
		ref, err := queue.ParseRef(a)
		if err == nil && ref.Region == "" && ref.URL == "" && ref.ARN == "" && bare == "" {
			bare = a
		}
		if err != nil || ref.Region == "" {
			continue
		}
		if region != "" && ref.Region != region {
			return Usagef("%s is in %s and %s is in %s: one command works in one region", from, region, a, ref.Region)
		}
		region, from = ref.Region, a
	}
	if region == "" {
		return nil
	}
	s, err := f.Settings()
	if err != nil {
		return err
	}
	if s.Region != "" && s.Region != region {
		return Usagef("%s is in %s, not in --region %s: drop --region (or DLQ_REGION, or the context's region) or name the queue in %s", from, region, s.Region, s.Region)
	}
	// A bare name beside it would be looked up in the ARN's region, not in
	// the one AWS_REGION or the profile names, where the user may have
	// looked at it: another queue of the same name.
	if bare != "" && s.Region == "" {
		if def := f.defaultRegion(s); def != "" && def != region {
			return Usagef("%s is in %s, but %s would be looked up there, not in %s (AWS_REGION or the profile): name it by ARN or URL too, or pass --region", from, region, bare, def)
		}
	}
	f.queueRegion = region
	return nil
}

// defaultRegion is the region the AWS SDK would use without dlq's
// settings: AWS_REGION, AWS_DEFAULT_REGION or the profile's ("" if none).
func (f *Factory) defaultRegion(s Settings) string {
	var opts []func(*config.LoadOptions) error
	if s.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(s.Profile))
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		return ""
	}
	return cfg.Region
}

// NewFactory wires a Factory to streams and a settings resolver.
// extraAPIOptions are added to every client's middleware stack (tests use
// them to count calls).
func NewFactory(ios *render.IOStreams, settings func() (Settings, error), extraAPIOptions ...func(*middleware.Stack) error) *Factory {
	f := &Factory{IOStreams: ios, Settings: settings, Now: time.Now, Env: OSEnv}
	var (
		once   sync.Once
		cfg    aws.Config
		cfgErr error
	)
	f.AWSConfig = func(ctx context.Context) (aws.Config, error) {
		once.Do(func() {
			s, err := settings()
			if err != nil {
				cfgErr = err
				return
			}
			if f.queueRegion != "" {
				s.Region = f.queueRegion // UseQueueRegion refused a conflict
			}
			cfg, cfgErr = LoadAWSConfig(ctx, s, ios)
			cfg.APIOptions = append(cfg.APIOptions, extraAPIOptions...)
		})
		return cfg, cfgErr
	}
	f.SQS = lazily(f, func(c aws.Config) *sqs.Client { return sqs.NewFromConfig(c) })
	f.CloudWatch = lazily(f, func(c aws.Config) *cloudwatch.Client { return cloudwatch.NewFromConfig(c) })
	f.Logs = lazily(f, func(c aws.Config) *cloudwatchlogs.Client { return cloudwatchlogs.NewFromConfig(c) })
	f.SNS = lazily(f, func(c aws.Config) *sns.Client { return sns.NewFromConfig(c) })
	f.EventBridge = lazily(f, func(c aws.Config) *eventbridge.Client { return eventbridge.NewFromConfig(c) })
	f.Lambda = lazily(f, func(c aws.Config) *lambda.Client { return lambda.NewFromConfig(c) })
	f.StepFunctions = lazily(f, func(c aws.Config) *sfn.Client { return sfn.NewFromConfig(c) })
	return f
}

// lazily builds a client from the factory's AWS configuration when a
// command first asks for it.
func lazily[C any](f *Factory, build func(aws.Config) C) func(context.Context) (C, error) {
	return func(ctx context.Context) (C, error) {
		c, err := f.AWSConfig(ctx)
		if err != nil {
			var none C
			return none, err
		}
		return build(c), nil
	}
}

// LoadAWSConfig loads the SDK configuration for the resolved settings. A
// missing region is a usage error; credentials are wrapped so that a failure
// to obtain them surfaces as a CredentialsError (exit 4) naming the profile
// and region tried.
func LoadAWSConfig(ctx context.Context, s Settings, ios *render.IOStreams) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if s.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(s.Profile))
	}
	if s.Region != "" {
		opts = append(opts, config.WithRegion(s.Region))
	}
	if s.EndpointURL != "" {
		opts = append(opts, config.WithBaseEndpoint(s.EndpointURL))
	}
	opts = append(opts, config.WithHTTPClient(httpClient(s.ConnectTimeout)), config.WithAPIOptions([]func(*middleware.Stack) error{attemptTimeout(s.CallTimeout)}))
	if s.Verbose {
		opts = append(opts,
			config.WithLogger(logging.NewStandardLogger(redactingWriter{ios.ErrOut})),
			config.WithClientLogMode(aws.LogRetries|aws.LogRequest|aws.LogResponse))
	} else {
		// The SDK's default logger writes warnings to stderr; without -v
		// stderr carries only dlq's own summary and errors.
		opts = append(opts, config.WithLogger(logging.Nop{}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	var noProfile config.SharedConfigProfileNotExistError
	if errors.As(err, &noProfile) {
		return aws.Config{}, Usagef("AWS profile %q does not exist (looked in %s): `aws configure list-profiles` lists them", noProfile.Profile, strings.Join(noProfile.Filename, ", "))
	}
	if err != nil {
		return aws.Config{}, &CredentialsError{Profile: s.Profile, Region: s.Region, Err: fmt.Errorf("load AWS config: %w", err)}
	}
	if cfg.Region == "" {
		return aws.Config{}, Usagef("no AWS region: set --region, AWS_REGION, or a region in profile %q", orDefault(s.Profile, "default"))
	}
	if cfg.Credentials != nil {
		cfg.Credentials = credentialsGuard{inner: cfg.Credentials, profile: s.Profile, region: cfg.Region}
	}
	return cfg, nil
}

// credentialsGuard marks credential failures so they map to exit 4.
type credentialsGuard struct {
	inner   aws.CredentialsProvider
	profile string
	region  string
}

func (g credentialsGuard) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := g.inner.Retrieve(ctx)
	if err != nil {
		return c, &CredentialsError{Profile: g.profile, Region: g.region, Err: err}
	}
	return c, nil
}
