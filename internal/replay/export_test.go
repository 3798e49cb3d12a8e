package replay

// The tests stream through a small queue: a bounded window is reached
// with a few hundred messages, which an emulator holds quickly.
func init() { streamQueue = 4 * 10 }

// OnStreamFull makes f hear, with the DLQ's URL, when a streaming scan
// waits for room to queue a message.
func OnStreamFull(f func(dlq string)) { testHookStreamFull.Store(&f) }

// StreamBound is the most messages a streaming round with one batch in
// flight and one receiver has received when it first waits for room: the
// queue, the batch the collector waits to send, the batch in flight, and
// the rest of the receive that found the queue full.
func StreamBound() int { return streamQueue + 3*10 }
