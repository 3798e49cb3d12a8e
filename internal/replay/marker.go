package replay

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dlqops/dlq/internal/queue"
)

// MarkerAttribute is the one attribute replay adds.
const MarkerAttribute = "dlq-replay"

// Marker is the JSON in MarkerAttribute.
type Marker struct {
	OriginalMessageID string `json:"originalMessageId"`
	OriginalSentAt    string `json:"originalSentAt"`
	DLQ               string `json:"dlq"`
	Count             int    `json:"count"`
	ReplayedAt        string `json:"replayedAt"`
}

// messageSize is what SQS counts against the maximum: body plus each
// attribute's name, type and value.
func messageSize(m *queue.Message) int {
	n := len(m.Body)
	for k, a := range m.Attributes {
		n += len(k) + len(a.Type) + len(a.String) + len(a.Binary)
	}
	return n
}

// markerSize bounds the marker attribute's share of a message's size.
const markerSize = 512

// entry is one message ready to send: row i of the round's table, with
// its receipt handle (deleted with it once sent).
type entry struct {
	row    int32
	handle string
	in     types.SendMessageBatchRequestEntry
	size   int
	newID  string // the message ID the destination gave it, once sent
}

// entry builds the send of row i from m, its message read back whole.
func (h *round) entry(i int32, m *queue.Message, dest queue.Queue, now time.Time) (entry, bool) {
	attrs := make(map[string]types.MessageAttributeValue, len(m.Attributes)+1)
	for k, a := range m.Attributes {
		v := types.MessageAttributeValue{DataType: aws.String(a.Type)}
		if strings.HasPrefix(a.Type, "Binary") {
			v.BinaryValue = a.Binary
		} else {
			v.StringValue = aws.String(a.String)
		}
		attrs[k] = v
	}
	marked := true
	mk := Marker{OriginalMessageID: m.MessageID, OriginalSentAt: m.SentAt.UTC().Format(timeFormat), DLQ: h.r.dlq.Name, Count: 1, ReplayedAt: now.UTC().Format(timeFormat)}
	if prev, ok := m.Attributes[MarkerAttribute]; ok {
		var old Marker
		if json.Unmarshal([]byte(prev.String), &old) == nil {
			mk.Count = old.Count + 1
			if old.OriginalMessageID != "" {
				mk.OriginalMessageID, mk.OriginalSentAt = old.OriginalMessageID, old.OriginalSentAt
			}
		}
	}
	if _, had := m.Attributes[MarkerAttribute]; !had && len(m.Attributes) >= 10 {
		marked = false // SQS allows ten attributes: replay it unmarked
	} else {
		b, _ := json.Marshal(mk)
		attrs[MarkerAttribute] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(string(b))}
	}
	in := types.SendMessageBatchRequestEntry{MessageBody: aws.String(m.Body), MessageAttributes: attrs}
	if th := m.System["AWSTraceHeader"]; th != "" {
		in.MessageSystemAttributes = map[string]types.MessageSystemAttributeValue{
			"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String(th)},
		}
	}
	if dest.FIFO {
		in.MessageGroupId = aws.String(m.GroupID)
		switch {
		case h.r.cfg.Dedup == DedupOriginal && m.System["MessageDeduplicationId"] != "":
			in.MessageDeduplicationId = aws.String(m.System["MessageDeduplicationId"])
		default:
			// Stable for this message and replay count: a resumed replay
			// that resends within 5 minutes is deduplicated by SQS.
			in.MessageDeduplicationId = aws.String(fmt.Sprintf("%s-r%d", m.MessageID, mk.Count))
		}
	}
	size := len(m.Body)
	for k, v := range attrs {
		size += len(k) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
	}
	return entry{row: i, handle: m.ReceiptHandle, in: in, size: size}, marked
}
