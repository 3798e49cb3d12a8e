package replay_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dlqops/dlq/internal/replay"
	"github.com/dlqops/dlq/internal/testenv"
)

// openSpools lists this process's open files under dir (the spools of
// the runs that spool there: unlinked, so their links end in "(deleted)").
func openSpools(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	var out []string
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(l, dir+string(filepath.Separator)) && strings.Contains(l, "replay-spool-") {
			out = append(out, l)
		}
	}
	return out
}

// Whatever way a run ends (rounds, --limit's early empty table, the final
// check's tables, a dry run, a declined plan, an interrupt), a renewal
// leaves exactly one spool open (the old one is closed), and none is left
// open once Run returns.
func TestReplaySpoolNoFileLeftOpen(t *testing.T) {
	t.Parallel()
	type tc struct {
		name   string
		fifo   bool
		cfg    func(c *replay.Config)
		wantOK bool
	}
	cases := []tc{
		{name: "window-rounds", cfg: func(c *replay.Config) { c.Window = 10 }, wantOK: true},
		{name: "window-rounds-limit", cfg: func(c *replay.Config) { c.Window = 10; c.Limit = 20 }, wantOK: true},
		{name: "fifo-rounds-limit", fifo: true, cfg: func(c *replay.Config) { c.Limit = 12 }, wantOK: true},
		{name: "dry-run", cfg: func(c *replay.Config) { c.DryRun = true }, wantOK: true},
		{name: "declined", cfg: func(c *replay.Config) {
			c.Confirm = func(replay.Report) (bool, error) { return false, nil }
		}},
		{name: "interrupted-at-renewal", cfg: func(c *replay.Config) { c.Window = 10 }},
	}
	for _, k := range cases {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t, k.fifo, nil)
			const total = 25
			if k.fifo {
				testenv.SendBatch(t, p.c, p.dlq.URL, total, func(i int) string { return fmt.Sprintf(`{"seq":%d}`, i) }, func(int) string { return "one" })
			} else {
				sendN(t, p.c, p.dlq.URL, total, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
			}
			dir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var mu sync.Mutex
			var renewals int
			var atRenewal [][]string
			replay.OnSpoolRenewed(p.dlq.URL, func(int64) {
				mu.Lock()
				renewals++
				atRenewal = append(atRenewal, openSpools(t, dir))
				mu.Unlock()
				if k.name == "interrupted-at-renewal" {
					cancel()
				}
			})
			cfg := replay.Config{API: p.c, DLQ: p.dlq.URL, To: p.src.URL, SpoolDir: dir, Sleep: noSleep}
			k.cfg(&cfg)
			r, err := replay.Run(ctx, cfg)
			if k.wantOK && err != nil {
				t.Fatalf("run: %v (report %+v)", err, r)
			}
			for _, f := range r.Failures {
				if strings.Contains(f.Error, "spool") {
					t.Errorf("a failure reads a spool: %+v", f)
				}
			}
			if err != nil && strings.Contains(err.Error(), "spool") {
				t.Errorf("run error reads a spool: %v", err)
			}
			mu.Lock()
			t.Logf("renewals=%d err=%v deleted=%d verified=%v", renewals, err, r.Deleted, r.Verified)
			for i, open := range atRenewal {
				if len(open) != 1 {
					t.Errorf("renewal %d: %d spool(s) open, want 1: %v", i, len(open), open)
				}
			}
			mu.Unlock()
			if open := openSpools(t, dir); len(open) != 0 {
				t.Errorf("after Run, %d spool(s) still open: %v", len(open), open)
			}
		})
	}
}

// A new spool that cannot be opened mid-run (the spool directory became
// a file after the first round's deletes) leaves the run on the spool it
// has: every message moves once, the run is verified, and nothing is left
// open.
func TestReplaySpoolRenewalFailureGoesOnWithTheOldSpool(t *testing.T) {
	t.Parallel()
	p := newPair(t, false, nil)
	const total, window = 35, 10
	sendN(t, p.c, p.dlq.URL, total, func(i int) string { return fmt.Sprintf(`{"orderId":"o-%d"}`, i) })
	base := t.TempDir()
	dir := filepath.Join(base, "spool")
	var broken atomic.Bool
	var once sync.Once
	api := client(t, fault{op: "DeleteMessageBatch", after: func(_, _ any) error {
		once.Do(func() {
			// The run's spool is unlinked: the directory is empty.
			if err := os.Remove(dir); err != nil {
				t.Error(err)
				return
			}
			if err := os.WriteFile(dir, nil, 0o600); err != nil {
				t.Error(err)
				return
			}
			broken.Store(true)
		})
		return nil
	}})
	var renewedAfter atomic.Int32
	replay.OnSpoolRenewed(p.dlq.URL, func(int64) {
		if broken.Load() {
			renewedAfter.Add(1)
		}
	})
	r, err := replay.Run(context.Background(), replay.Config{API: api, DLQ: p.dlq.URL, To: p.src.URL, Window: window, SpoolDir: dir, Sleep: noSleep})
	if err != nil {
		t.Fatalf("run: %v (report %+v)", err, r)
	}
	if !broken.Load() {
		t.Fatal("the spool directory was not replaced")
	}
	if n := renewedAfter.Load(); n != 0 {
		t.Errorf("renewed %d time(s) without a spool directory", n)
	}
	if !r.Verified || r.Deleted != total {
		t.Fatalf("report = %+v: want every message moved and verified", r)
	}
	if !strings.Contains(strings.Join(r.Warnings, "\n"), "spool of the round before is used on") {
		t.Errorf("warnings %q do not say the spool could not be renewed", r.Warnings)
	}
	if got := testenv.DrainCounts(t, p.c, p.src.URL); len(got) != total {
		t.Fatalf("%d distinct messages in the destination, want %d", len(got), total)
	}
	if open := openSpools(t, dir); len(open) != 0 {
		t.Errorf("after Run, %d spool(s) still open: %v", len(open), open)
	}
}
