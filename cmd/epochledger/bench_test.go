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
		"raw_64_events_overwrite_fdatasyncs_per_sec", "concurrent64_overwrite_limit_events_per_sec", "concurrent64_ratio_to_overwrite_limit",
		"concurrent64_events_per_fsync", "concurrent64_commit_cycle_us", "concurrent64_fdatasync_mean_us",
		"gomaxprocs", "num_cpu",
		"concurrent64_gomaxprocs1_events_per_sec", "concurrent64_gomaxprocs1_commit_cycle_us", "concurrent64_gomaxprocs1_fdatasync_mean_us",
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

// TestBenchReplayJSON generates a small log and runs `bench replay --json`
// on it twice (the second reuses the log): the replay, its baseline, the
// open before it and the checkpoint figures must be there.
func TestBenchReplayJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("generates and replays a log")
	}
	dir := t.TempDir()
	for run := 0; run < 2; run++ {
		code, out, errs := cli(t, "", "bench", "replay", "--events", "20000", "--operators", "20", "--dir", dir, "--json")
		if code != 0 {
			t.Fatalf("run %d: exit %d: %s", run, code, errs)
		}
		var r map[string]float64
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("output is not one JSON object of numbers: %v\n%s", err, out)
		}
		for _, k := range []string{
			"events", "raw_read_events_per_sec", "read_all_events_per_sec", "replay_events_per_sec",
			"replay_ratio_to_raw_read", "replay_seconds", "open_seconds", "open_and_replay_events_per_sec",
			"checkpoint_write_seconds", "resume_from_checkpoint_seconds",
		} {
			if r[k] <= 0 {
				t.Errorf("run %d: %s = %v, want a positive figure", run, k, r[k])
			}
		}
		if gen := r["generate_seconds"]; (run == 0) != (gen > 0) {
			t.Errorf("run %d: generate_seconds = %v: the log is generated once, then reused", run, gen)
		}
	}
}
