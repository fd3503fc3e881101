package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/epochledger/epochledger/workers/api"
	"github.com/epochledger/epochledger/workers/render"
)

// TestServeFillsTheDisk (issue #18, findings 5 to 7, served): serve's log
// on a small tmpfs, and job submissions until the disk is full. A refused
// submission is answered 503 with no internal path, and appends resume
// once space is freed, without a restart. Afterwards the log verifies with
// no tail, holds every acknowledged job once and none that was refused.
// Skipped, with a message, where a tmpfs cannot be mounted.
func TestServeFillsTheDisk(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("SKIP: the disk-full test needs a small tmpfs and could not mount one at %s: %v %s", mnt, err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	data := filepath.Join(mnt, "data")
	stop, url := startServeStoppable(t, "--data", data)

	submit := func(id string) (int, string) {
		body, _ := json.Marshal(api.SubmitJobRequest{JobID: id, Artist: "studio", SceneHash: render.OutputHash([]byte(id)), Frames: 1, USDPerOBh: "1"})
		req, _ := http.NewRequest("POST", url+api.PathJobs, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+serveToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("submit %s: %v", id, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	acked := map[string]bool{}
	refused := map[string]bool{}
	n := 0
	next := func() string { n++; return fmt.Sprintf("job-%05d", n) }

	// Fill what is left of the disk, then submit until serve refuses.
	filler := filepath.Join(mnt, "filler")
	fillDisk(t, filler)
	for len(refused) < 3 && n < 5000 {
		id := next()
		switch code, body := submit(id); code {
		case http.StatusCreated, http.StatusOK:
			acked[id] = true
		case http.StatusServiceUnavailable:
			if strings.Contains(body, mnt) || strings.Contains(body, ".seg") {
				t.Fatalf("503 body names an internal path: %s", body)
			}
			refused[id] = true
		default:
			t.Fatalf("submit %s on a full disk: %d %s", id, code, body)
		}
	}
	if len(refused) == 0 {
		t.Fatalf("%d submissions all fit: the disk did not fill", n)
	}
	// Space freed: the same serve takes appends again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		id := next()
		if code, body := submit(id); code != http.StatusCreated && code != http.StatusOK {
			t.Fatalf("submit %s once space is free, without a restart: %d %s", id, code, body)
		}
		acked[id] = true
	}
	stop()

	vcode, v := runVerifyJSON(t, "--data", data)
	if vcode != 0 || !v.OK || v.TornTail != nil {
		t.Fatalf("verify after the disk filled: exit %d %+v", vcode, v)
	}
	code, out, errs := cli(t, "", "export", "--data", data)
	if code != 0 {
		t.Fatalf("export: %d %s", code, errs)
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var env struct {
			Type string `json:"type"`
			Data struct {
				JobID string `json:"job_id"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(line), &env); err == nil && env.Type == "JobSubmitted" {
			seen[env.Data.JobID]++
		}
	}
	for id := range acked {
		if seen[id] != 1 {
			t.Errorf("acknowledged job %s is in the log %d times", id, seen[id])
		}
	}
	for id := range refused {
		if seen[id] != 0 {
			t.Errorf("refused job %s is in the log", id)
		}
	}
	t.Logf("%d acknowledged, %d refused while the disk was full", len(acked), len(refused))
}

// fillDisk writes path until the file system has no space left.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}
