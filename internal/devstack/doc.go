// Package devstack runs the order pipeline's AWS resources on a local
// emulator for `make demo` (internal/emulator starts moto_server),
// provisions queues with their dead-letter queues, produces failed
// messages the way production does, by receiving them past
// maxReceiveCount, and runs the order pipeline on internal/pipeline/worker
// (in process as Lambda's event source mapping, or in the cmd/worker/orders
// binary) through the Black Friday scenario.
package devstack
