//go:build unix

// Package pgcluster starts throwaway PostgreSQL servers for tests: a
// primary and a synchronous streaming standby, each with initdb in a
// temporary directory, listening on a free loopback port, run as a
// non-root user (initdb and postgres refuse root). Nothing is assumed to be
// running already, and every server is stopped when the test ends.
//
// The binaries are found through EPOCHLEDGER_PG_BIN, then `pg_config
// --bindir` on PATH, then the newest /usr/lib/postgresql/*/bin (Debian's
// layout). Under root the servers run as the user "postgres" (created by
// Debian's package) or, without it, "nobody".
//
// Each server is a child process of the test (not daemonized by pg_ctl),
// in its own process group, so Kill can SIGKILL the postmaster and every
// backend at once, the way a machine dies. pg_ctl does the promotion.
// Unix only (setuid, process groups), like the tests that use it.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// User is the database superuser initdb creates; authentication is trust
// on loopback only.
const User = "epochledger"

// StandbyName is the standby's application_name, the one
// synchronous_standby_names lists: pg_basebackup's own WAL stream (named
// pg_basebackup) is then never taken for the synchronous standby.
const StandbyName = "standby"

// Server is one running (or stopped) PostgreSQL server.
type Server struct {
	Port int
	Dir  string // data directory

	c    *Cluster
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// Cluster is a primary and, when started with one, a synchronous standby.
type Cluster struct {
	Primary *Server
	Standby *Server // nil without a standby

	t    testing.TB
	bin  string
	base string
	cred *syscall.Credential
	gen  int
}

// Bin returns the directory holding initdb, postgres and pg_ctl.
func Bin() (string, error) {
	if d := os.Getenv("EPOCHLEDGER_PG_BIN"); d != "" {
		return d, nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("pgcluster: no PostgreSQL binaries (initdb) found: install Debian's postgresql package (make deps does under root) or set EPOCHLEDGER_PG_BIN")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// credential is who the servers run as: this process's user, or under
// root an unprivileged one.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("pgcluster: running as root and neither user postgres nor nobody exists to run the servers as")
}

// Start initializes and starts a primary and, when standby is true, a
// synchronous standby streaming from it; it fails the test (never skips)
// when a server cannot be started. The servers are stopped and their
// directories removed in t.Cleanup.
func Start(t testing.TB, standby bool) *Cluster {
	t.Helper()
	c, err := start(t, standby)
	if err != nil {
		t.Fatalf("pgcluster: %v", err)
	}
	return c
}

func start(t testing.TB, standby bool) (*Cluster, error) {
	bin, err := Bin()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	tmp := os.TempDir()
	if cred != nil && !traversable(tmp) {
		tmp = "/tmp" // e.g. TMPDIR under /root, which the servers' user cannot enter
	}
	base, err := os.MkdirTemp(tmp, "epochledger-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{t: t, bin: bin, base: base, cred: cred}
	t.Cleanup(c.cleanup)
	if err := os.Chmod(base, 0o755); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(base, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	p := &Server{c: c, Dir: c.newDir("primary")}
	if err := c.run(c.bin+"/initdb", "-D", p.Dir, "-U", User, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"); err != nil {
		return nil, err
	}
	if p.Port, err = freePort(); err != nil {
		return nil, err
	}
	if err := p.writeConf(standby); err != nil {
		return nil, err
	}
	if err := p.Start(); err != nil {
		return nil, err
	}
	c.Primary = p
	if standby {
		if c.Standby, err = c.newStandby(0); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// traversable reports whether every directory from / to dir may be
// entered by any user.
func traversable(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		st, err := os.Stat(dir)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

func (c *Cluster) newDir(role string) string {
	c.gen++
	return filepath.Join(c.base, fmt.Sprintf("%s-%d", role, c.gen))
}

// run runs a PostgreSQL tool as the servers' user and returns its output
// in the error when it fails.
func (c *Cluster) run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = c.base
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeConf appends this server's settings to postgresql.conf (later
// lines win, so a standby's copy of the primary's file is overridden).
// Small buffers: the test machines are shared. Durability settings are
// PostgreSQL's defaults (fsync on, synchronous_commit on): the tests kill
// servers and count on them.
func (s *Server) writeConf(syncStandby bool) error {
	conf := fmt.Sprintf(`
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = ''
shared_buffers = 16MB
max_connections = 60
wal_level = replica
max_wal_senders = 8
wal_keep_size = 256MB
hot_standby = on
fsync = on
synchronous_commit = on
log_min_messages = warning
log_min_error_statement = panic
`, s.Port)
	if syncStandby {
		conf += fmt.Sprintf("synchronous_standby_names = '%s'\n", StandbyName)
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// newStandby takes a base backup of the primary into a new directory and
// starts it as its synchronous standby on port (0: a free one).
func (c *Cluster) newStandby(port int) (*Server, error) {
	s := &Server{c: c, Dir: c.newDir("standby"), Port: port}
	if err := c.run(c.bin+"/pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(c.Primary.Port), "-U", User, "-D", s.Dir, "-X", "stream", "-c", "fast"); err != nil {
		return nil, err
	}
	var err error
	if s.Port == 0 {
		if s.Port, err = freePort(); err != nil {
			return nil, err
		}
	}
	if err := s.writeConf(true); err != nil {
		return nil, err
	}
	auto := fmt.Sprintf("primary_conninfo = 'host=127.0.0.1 port=%d user=%s application_name=%s'\n", c.Primary.Port, User, StandbyName)
	if err := os.WriteFile(filepath.Join(s.Dir, "postgresql.auto.conf"), []byte(auto), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "standby.signal"), nil, 0o600); err != nil {
		return nil, err
	}
	if c.cred != nil {
		for _, f := range []string{"postgresql.auto.conf", "standby.signal"} {
			if err := os.Chown(filepath.Join(s.Dir, f), int(c.cred.Uid), int(c.cred.Gid)); err != nil {
				return nil, err
			}
		}
	}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, c.WaitSync(context.Background())
}

// URL is a connection URL for the database "postgres" of s.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable", User, s.Port)
}

// URL names both servers, primary first, with target_session_attrs=
// read-write: a client reconnecting after a failover finds whichever
// server was promoted. A replacement standby reuses the dead primary's
// port, so the URL stays good across rounds of failover.
func (c *Cluster) URL() string {
	hosts := fmt.Sprintf("127.0.0.1:%d", c.Primary.Port)
	if c.Standby != nil {
		hosts += fmt.Sprintf(",127.0.0.1:%d", c.Standby.Port)
	}
	return fmt.Sprintf("postgres://%s@%s/postgres?sslmode=disable&target_session_attrs=read-write&connect_timeout=5", User, hosts)
}

// Start starts the server (again) and waits until it accepts connections.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("pgcluster: server on port %d is already running", s.Port)
	}
	logf, err := os.OpenFile(s.Dir+".log", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.c.bin+"/postgres", "-D", s.Dir)
	cmd.Dir = s.c.base
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.c.cred}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("pgcluster: start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.URL())
		if err == nil {
			conn.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("pgcluster: postgres on port %d exited at start; its log:\n%s", s.Port, s.Log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgcluster: postgres on port %d does not accept connections after 90 s: %v; its log:\n%s", s.Port, err, s.Log())
		}
	}
}

// Log returns the server's log (for failure messages).
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.Dir + ".log")
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// Kill sends SIGKILL to the postmaster and all its backends at once (its
// process group) and waits for the postmaster to be gone.
func (s *Server) Kill() { s.signal(syscall.SIGKILL, true) }

// Stop shuts the server down (fast shutdown: SIGINT) and waits for it.
func (s *Server) Stop() { s.signal(syscall.SIGINT, false) }

func (s *Server) signal(sig syscall.Signal, group bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	pid := s.cmd.Process.Pid
	if group {
		_ = syscall.Kill(-pid, sig)
	} else {
		_ = syscall.Kill(pid, sig)
	}
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-s.done
	}
	if group {
		// Backends are gone with the postmaster's group; wait until the
		// port is free again so a replacement can bind it.
		for i := 0; i < 200; i++ {
			if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port)); err == nil {
				l.Close()
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	s.cmd = nil
}

// Failover kills the primary (SIGKILL), promotes the standby, and starts a
// replacement standby on the dead primary's port, streaming from the new
// primary; it returns when the replacement is the synchronous standby.
// Commits on the new primary block until then.
func (c *Cluster) Failover() error {
	if c.Standby == nil {
		return errors.New("pgcluster: no standby to fail over to")
	}
	old := c.Primary
	old.Kill()
	if err := c.run(c.bin+"/pg_ctl", "promote", "-w", "-t", "120", "-D", c.Standby.Dir); err != nil {
		return err
	}
	c.Primary, c.Standby = c.Standby, nil
	_ = os.RemoveAll(old.Dir)
	s, err := c.newStandby(old.Port)
	if err != nil {
		return err
	}
	c.Standby = s
	return nil
}

// WaitSync waits until the primary reports a synchronous standby
// streaming from it.
func (c *Cluster) WaitSync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.Primary.URL())
		if err == nil {
			var n int
			err = conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync' AND state = 'streaming'").Scan(&n)
			conn.Close(context.Background())
			if err == nil && n > 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: no synchronous standby streaming after 120 s (last error %v); standby log:\n%s", err, c.standbyLog())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Cluster) standbyLog() string {
	if c.Standby == nil {
		return "(no standby)"
	}
	return c.Standby.Log()
}

func (c *Cluster) cleanup() {
	for _, s := range []*Server{c.Standby, c.Primary} {
		if s != nil {
			s.Kill()
		}
	}
	_ = os.RemoveAll(c.base)
}
