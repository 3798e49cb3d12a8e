package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// LogsAPI is what the log shipper calls.
type LogsAPI interface {
	PutLogEvents(context.Context, *cwl.PutLogEventsInput, ...func(*cwl.Options)) (*cwl.PutLogEventsOutput, error)
}

// LogShipper is the handler's stdout: it collects log lines, as Lambda's
// runtime does, and ships them to a CloudWatch Logs group and stream.
type LogShipper struct {
	API    LogsAPI
	Group  string
	Stream string

	mu      sync.Mutex
	partial []byte
	pending []types.InputLogEvent
	Shipped int
}

// Write takes whole lines; each becomes one log event stamped now (or
// with the line's own "time" when it has one).
func (s *LogShipper) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		line := string(s.partial[:i])
		s.partial = s.partial[i+1:]
		if line == "" {
			continue
		}
		ts := time.Now()
		var rec struct {
			Time time.Time `json:"time"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && !rec.Time.IsZero() {
			ts = rec.Time
		}
		s.pending = append(s.pending, types.InputLogEvent{Message: aws.String(line), Timestamp: aws.Int64(ts.UnixMilli())})
	}
	return len(p), nil
}

// Flush ships what was collected, in time order, 1,000 events a call.
func (s *LogShipper) Flush(ctx context.Context) error {
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	s.mu.Unlock()
	sort.SliceStable(batch, func(i, j int) bool { return *batch[i].Timestamp < *batch[j].Timestamp })
	for start := 0; start < len(batch); start += 1000 {
		part := batch[start:min(start+1000, len(batch))]
		if _, err := s.API.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: aws.String(s.Group), LogStreamName: aws.String(s.Stream), LogEvents: part}); err != nil {
			return fmt.Errorf("ship logs: %w", err)
		}
		s.mu.Lock()
		s.Shipped += len(part)
		s.mu.Unlock()
	}
	return nil
}

// Run flushes every interval until ctx ends, then once more.
func (s *LogShipper) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = s.Flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
			_ = s.Flush(ctx)
		}
	}
}
