//go:build unix

package pgcluster

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestFailover starts a primary with a synchronous standby, commits, fails
// over once and finds the commit on the promoted server through the
// cluster URL.
func TestFailover(t *testing.T) {
	c := Start(t, true)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (v int); INSERT INTO t VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := c.Failover(); err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	var inRecovery bool
	if err := conn.QueryRow(ctx, "SELECT v, pg_is_in_recovery() FROM t").Scan(&v, &inRecovery); err != nil || v != 42 || inRecovery {
		t.Fatalf("after failover: v=%d in recovery %v, %v", v, inRecovery, err)
	}
}

// TestStartFailsWithoutBinaries: with no PostgreSQL where it is told to
// look, starting fails with a message saying what to install; the tests
// that need a server then fail instead of skipping.
func TestStartFailsWithoutBinaries(t *testing.T) {
	t.Setenv("EPOCHLEDGER_PG_BIN", t.TempDir())
	_, err := start(t, false)
	if err == nil || !strings.Contains(err.Error(), "initdb") {
		t.Fatalf("start without binaries: %v, want an error naming initdb", err)
	}
}
