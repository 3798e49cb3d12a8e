package replay

import "sync"

// The tests stream through a small queue: a bounded window is reached
// with a few hundred messages (or a few of 3 KB), which an emulator holds
// quickly.
func init() { streamQueue, streamBytes = 4*10, 16<<10 }

// onFull is each test's hook, by DLQ URL: tests run in parallel.
var onFull sync.Map

// OnStreamFull makes f hear when a streaming scan of the DLQ dlq (a URL)
// waits for room to queue a message.
func OnStreamFull(dlq string, f func()) {
	onFull.Store(dlq, f)
	hook := func(dlq string) {
		if f, ok := onFull.Load(dlq); ok {
			f.(func())()
		}
	}
	testHookStreamFull.Store(&hook)
}

// StreamBound is the most messages a streaming round with one batch in
// flight and one receiver has received when it first waits for room: the
// queue, the batch the collector waits to send, the batch in flight, and
// the rest of the receive that found the queue full.
func StreamBound() int { return streamQueue + 3*10 }

// StreamBoundBytes is StreamBound for messages of size bytes (with
// attributes): the queue holds at most streamBytes of them.
func StreamBoundBytes(size int) int { return min(streamQueue, int(streamBytes)/size) + 3*10 }

// onRenewed is each test's spool hook, by DLQ URL.
var onRenewed sync.Map

// OnSpoolRenewed makes f hear, for the DLQ dlq (a URL), how much a
// spool held when a new table (a round's, the final check's) replaced it.
func OnSpoolRenewed(dlq string, f func(held int64)) {
	onRenewed.Store(dlq, f)
	hook := func(dlq string, held int64) {
		if f, ok := onRenewed.Load(dlq); ok {
			f.(func(int64))(held)
		}
	}
	testHookSpoolRenewed.Store(&hook)
}
