package settlement_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/filestore"
	"github.com/epochledger/epochledger/projections"
	"github.com/epochledger/epochledger/scenarios/simlog"
	"github.com/epochledger/epochledger/settlement"
	"github.com/epochledger/epochledger/settlement/localnet"
)

var t0 = time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)

// network builds an epoch of n operators (op-000 …), each with one node
// and compute work worth 1+i%7 dollars; operators in noWallet get no
// wallet. It closes epoch 1 with emission.
func network(n int, noWallet map[int]bool, emission domain.BaseUnits) *simlog.Builder {
	b := simlog.New(fmt.Sprintf("settle-%d", n), t0)
	b.FakeSignatures = n > 2000 // signing is the slow part of big logs; the store does not check
	for i := 0; i < n; i++ {
		op, node := opID(i), fmt.Sprintf("node-%03d", i)
		b.Node(node, op, "500")
		if !noWallet[i] {
			b.SetWallet(op)
		}
		b.Compute(fmt.Sprintf("task-%03d-1", i), node, 60_000, fmt.Sprint(1+i%7))
	}
	b.CloseEpoch(1, emission)
	return b
}

func opID(i int) string { return fmt.Sprintf("op-%03d", i) }

// world is a log on disk, its ledger and journal.
type world struct {
	t     *testing.T
	dir   string
	store eventstore.Store
	j     *settlement.Journal
}

func newWorld(t *testing.T, b *simlog.Builder) *world {
	t.Helper()
	w := &world{t: t, dir: filepath.Join(t.TempDir(), "data")}
	w.open()
	if err := simlog.AppendBatch(context.Background(), w.store, b.Drain()); err != nil {
		t.Fatal(err)
	}
	w.reload()
	t.Cleanup(func() { w.store.Close() })
	return w
}

func (w *world) open() {
	s, err := filestore.Open(w.dir, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.store = s
}

// reload folds the log from scratch into a new journal (what a new process sees).
func (w *world) reload() {
	w.t.Helper()
	l, err := projections.Build(context.Background(), w.store, projections.Config{}, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.j = settlement.NewJournal(w.store, l)
}

// reopen closes the store and opens it again (a process restart).
func (w *world) reopen() {
	w.t.Helper()
	w.store.Close()
	w.open()
	w.reload()
}

func (w *world) ledger() *projections.Ledger { return w.j.Ledger() }

func (w *world) add(b *simlog.Builder) {
	w.t.Helper()
	if err := simlog.AppendBatch(context.Background(), w.store, b.Drain()); err != nil {
		w.t.Fatal(err)
	}
	if err := w.j.CatchUp(context.Background()); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) head() uint64 {
	h, err := w.store.Head(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return h
}

func (w *world) plan(epoch uint64) *settlement.Plan {
	w.t.Helper()
	p, err := settlement.Derive(w.ledger(), epoch)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := settlement.Record(context.Background(), w.j, p); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// typesSince counts event types stored after position from.
func (w *world) typesSince(from uint64) map[string]int {
	m := map[string]int{}
	err := w.store.ReadAll(context.Background(), from+1, func(e *eventstore.RecordedEvent) error {
		m[e.Type]++
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return m
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startLocalnet(t *testing.T) *localnet.Localnet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logs := &lockedBuffer{}
	l, err := localnet.Start(ctx, localnet.Options{Stderr: logs, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("localnet log (tail):\n%s", tail(logs.String(), 8000))
		}
	})
	return l
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// fastConfig polls quickly: the local VM finalizes at once.
func fastConfig(l *localnet.Localnet, epoch uint64) settlement.Config {
	return settlement.Config{Epoch: epoch, Mint: l.Mint, Signer: l.Treasury, Poll: 5 * time.Millisecond, Rebroadcast: 100 * time.Millisecond, MaxWait: 20 * time.Second}
}

func dial(l *localnet.Localnet) *settlement.Chain {
	c := settlement.Dial(l.RPC)
	c.SendTimeout = time.Second
	return c
}

// checkBalances asserts that every operator's token account holds exactly
// what the ledger says was paid, that the treasury fell by the sum, and
// that the ledger's paid amounts are what was allocated minus what is
// still owed or carried.
func checkBalances(t *testing.T, ctx context.Context, l *localnet.Localnet, led *projections.Ledger) domain.BaseUnits {
	t.Helper()
	var paid domain.BaseUnits
	byWallet := map[string]domain.BaseUnits{}
	for _, o := range led.Operators {
		if o.Paid > 0 {
			byWallet[o.Wallet] += o.Paid
		}
		paid += o.Paid
	}
	for wallet, want := range byWallet {
		owner := solana.MustPublicKeyFromBase58(wallet)
		got, err := l.TokenBalance(ctx, owner, l.Mint)
		if err != nil {
			t.Fatal(err)
		}
		if got != uint64(want) {
			t.Errorf("wallet %s holds %d base units, the ledger paid it %d", wallet, got, want)
		}
	}
	tr, err := l.TokenBalance(ctx, l.Treasury.PublicKey(), l.Mint)
	if err != nil {
		t.Fatal(err)
	}
	if tr != l.TreasuryAmount-uint64(paid) {
		t.Errorf("treasury holds %d, want %d − %d = %d", tr, l.TreasuryAmount, paid, l.TreasuryAmount-uint64(paid))
	}
	return paid
}

// checkInFlight asserts, between a crash and the next run, that every
// wallet holds at least what the ledger says was paid and at most that
// plus what is in flight, and that the treasury lost exactly what the
// wallets gained.
func checkInFlight(t *testing.T, ctx context.Context, l *localnet.Localnet, led *projections.Ledger) {
	t.Helper()
	paid, inflight := map[string]domain.BaseUnits{}, map[string]domain.BaseUnits{}
	for _, o := range led.Operators {
		if o.Wallet != "" {
			paid[o.Wallet] += o.Paid
			inflight[o.Wallet] += o.InFlight
		}
	}
	var moved uint64
	for wallet := range paid {
		got, err := l.TokenBalance(ctx, solana.MustPublicKeyFromBase58(wallet), l.Mint)
		if err != nil {
			t.Fatal(err)
		}
		if got < uint64(paid[wallet]) || got > uint64(paid[wallet]+inflight[wallet]) {
			t.Errorf("wallet %s holds %d; the ledger says paid %d, in flight %d", wallet, got, paid[wallet], inflight[wallet])
		}
		moved += got
	}
	tr, err := l.TokenBalance(ctx, l.Treasury.PublicKey(), l.Mint)
	if err != nil {
		t.Fatal(err)
	}
	if tr != l.TreasuryAmount-moved {
		t.Errorf("treasury holds %d, wallets gained %d of %d", tr, moved, l.TreasuryAmount)
	}
}

// submit runs one Submit on a fresh fold of the log.
func (w *world) submit(ctx context.Context, l *localnet.Localnet, cfg settlement.Config) (*settlement.Report, error) {
	w.reload()
	c := dial(l)
	defer c.Close()
	return settlement.NewSettler(c, w.j, cfg).Submit(ctx)
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}
