package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestBenchStoreJSON runs a very short `bench store --json`: every figure
// the issue names (and the baselines beside them) must be present and
// positive, the CPU profile written, and the scratch directory removed.
func TestBenchStoreJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and fsyncs for about a second")
	}
	dir := t.TempDir()
	prof := filepath.Join(dir, "cpu.prof")
	code, out, errs := cli(t, "", "bench", "store", "--dir", dir, "--duration", "30ms", "--json", "--cpuprofile", prof)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r map[string]float64
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output is not one JSON object of numbers: %v\n%s", err, out)
	}
	for _, k := range []string{
		"raw_write_fsync_bytes_per_sec", "append_batch1000_events_per_sec", "append_batch1000_bytes_per_sec",
		"ratio_to_raw", "concurrent64_events_per_sec", "read_events_per_sec",
		"append_batch1_events_per_sec", "append_batch100_events_per_sec", "append_batch1000_single_writer_events_per_sec",
		"raw_limit_batch1000_events_per_sec", "append_batch1000_bytes_per_fsync", "ratio_to_raw_at_flush_size",
		"concurrent64_limit_events_per_sec", "concurrent64_ratio_to_limit",
	} {
		if r[k] <= 0 {
			t.Errorf("%s = %v, want a positive figure", k, r[k])
		}
	}
	if st, err := os.Stat(prof); err != nil || st.Size() == 0 {
		t.Errorf("no CPU profile written: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 { // only the profile
		t.Errorf("scratch left behind in %s: %v", dir, ents)
	}
}
