// Command dlq operates the dead-letter queues of SQS → Lambda pipelines.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/dlqops/dlq/internal/cli/root"
)

// Stamped by the release build with -X.
var (
	version = "dev"
	commit  = ""
	date    = ""
)

func main() {
	os.Exit(profiled(func() int { return root.Main(root.BuildInfo{Version: version, Commit: commit, Date: date}) }))
}

// profiled runs main, writing a CPU profile to $DLQ_CPUPROFILE when it is
// set: how the project measures what users run (docs/development.md).
func profiled(main func() int) int {
	path := os.Getenv("DLQ_CPUPROFILE")
	if path == "" {
		return main()
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "dlq: DLQ_CPUPROFILE: %v\n", err)
		return main()
	}
	code := main()
	pprof.StopCPUProfile()
	_ = f.Close()
	return code
}
