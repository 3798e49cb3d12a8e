// Command dlq operates the dead-letter queues of SQS → Lambda pipelines.
package main

import (
	"os"

	"github.com/dlqops/dlq/internal/cli/root"
)

// Stamped by the release build with -X.
var (
	version = "dev"
	commit  = ""
	date    = ""
)

func main() {
	os.Exit(root.Main(root.BuildInfo{Version: version, Commit: commit, Date: date}))
}
