package coordinator

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/epochledger/epochledger/internal/durable"
)

// replayFloor keeps a captured signed request from being replayed after a
// restart. The nonce cache is memory only, so after a restart it cannot
// tell a fresh request from one it accepted before; instead every request
// whose timestamp is not newer than any timestamp the previous process may
// have accepted is refused.
//
// With a path, that bound is durable: before a request with a timestamp
// above the persisted mark is accepted, the mark is raised to the
// timestamp plus reserveStep and written (temporary file, fsync, rename),
// so at most one small fsync per reserveStep of the requests' clocks. At
// start the floor is the stored mark: the requests of a client whose clock
// runs ahead of the coordinator's (within the window) are covered too.
// Without a path (tests, a store without a data directory) the floor is
// the start time: exact for clients whose clock is not ahead of the
// coordinator's, which is the weaker guarantee documented in the package.
//
// A refused request is answered 503 (sign again): a worker retries 5xx,
// and the floor is at most reserveStep ahead of the clock.
type replayFloor struct {
	mu       sync.Mutex
	path     string
	floor    int64 // Unix ms: a request timestamped before it is refused
	reserved int64 // Unix ms: every accepted timestamp is <= reserved (durable when path != "")
}

// reserveStep is how far past a request's timestamp the mark is raised.
const reserveStep = 1000 // ms

func loadReplayFloor(path string, startMS int64) (*replayFloor, error) {
	f := &replayFloor{path: path, floor: startMS, reserved: startMS}
	if path == "" {
		return f, nil
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// First start with this file (or an upgrade): the start time
		// bounds what an older process accepted from accurate clocks.
		return f, nil
	case err != nil:
		return nil, fmt.Errorf("coordinator: read the replay floor: %w", err)
	}
	ms, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || ms < 0 {
		return nil, fmt.Errorf("coordinator: replay floor file %s: want Unix milliseconds, got %q", path, strings.TrimSpace(string(b)))
	}
	f.floor, f.reserved = max(f.floor, ms+1), max(f.reserved, ms)
	return f, nil
}

// before reports whether a request timestamped tms predates the floor.
func (f *replayFloor) before(tms int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return tms < f.floor
}

// reserve makes sure the persisted mark covers tms before the request is
// accepted.
func (f *replayFloor) reserve(tms int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if tms <= f.reserved {
		return nil
	}
	next := tms + reserveStep
	if f.path != "" {
		if err := durable.WriteFile(f.path, []byte(strconv.FormatInt(next, 10)+"\n")); err != nil {
			return err
		}
	}
	f.reserved = next
	return nil
}
