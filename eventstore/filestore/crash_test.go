package filestore

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/epochledger/epochledger/eventstore"
)

// The real crash test: a child process (this test binary, re-executed)
// appends batches from several goroutines and prints "ack <batch> <n>"
// after each append returns; the parent kills it with SIGKILL at a random
// moment, reopens the log, and checks that every acknowledged batch is
// there exactly once and whole, no partial batch is visible, and the hash
// chain verifies. The same log is reused across kills, so recovery runs on
// the tails earlier kills left.

const crashChildEnv = "EPOCHLEDGER_CRASH_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

func crashChild(dir string) {
	s, err := Open(dir, &Options{SegmentSize: 64 << 10})
	if err != nil {
		fmt.Println("open-error", err)
		os.Exit(3)
	}
	run := os.Getenv("EPOCHLEDGER_CRASH_RUN")
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	fmt.Fprintln(out, "ready")
	out.Flush()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				batch := fmt.Sprintf("r%s-w%d-%d", run, w, i)
				n := 1 + rand.IntN(20)
				if _, err := s.Append(context.Background(), fmt.Sprintf("crash-%d", w), eventstore.Any(), batchEvents(batch, n)...); err != nil {
					mu.Lock()
					fmt.Fprintln(out, "error", err)
					out.Flush()
					mu.Unlock()
					return
				}
				mu.Lock()
				fmt.Fprintln(out, "ack", batch, n)
				out.Flush()
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
}

func TestRealCrashSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("real crash test skipped in -short mode")
	}
	kills := 30
	if v := os.Getenv("EPOCHLEDGER_CRASH_KILLS"); v != "" {
		kills, _ = strconv.Atoi(v)
	}
	dir := t.TempDir()
	acked := map[string]int{}
	for k := 0; k < kills; k++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, "EPOCHLEDGER_CRASH_RUN="+strconv.Itoa(k))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		if l := <-lines; l != "ready" {
			t.Fatalf("child: %q", l)
		}
		time.Sleep(time.Duration(5+rand.IntN(150)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for l := range lines {
			f := strings.Fields(l)
			switch f[0] {
			case "ack":
				n, _ := strconv.Atoi(f[2])
				acked[f[1]] = n
			case "error":
				t.Fatalf("child append failed: %s", l)
			}
		}
		_ = cmd.Wait()

		s, err := Open(dir, &Options{SegmentSize: 64 << 10})
		if err != nil {
			t.Fatalf("kill %d: reopen: %v", k, err)
		}
		found := checkLog(t, s, acked)
		checkWhole(t, s, found)
		s.Close()
		rep := mustVerify(t, OSFS{}, dir)
		t.Logf("kill %d: %d events, %d segments, %d batches acknowledged so far", k, rep.Events, rep.Segments, len(acked))
	}
	if len(acked) == 0 {
		t.Fatal("the child acknowledged nothing: the test proved nothing")
	}
}
