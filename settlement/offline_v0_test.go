package settlement_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/settlement"
)

// TestSettleV0DryRunAndOfflineRoundTrip (issue #21 items 1 and 3): a dry
// run and an export build v0 transactions with the treasury's lookup
// table. Before the table exists the dry run lists its creation and
// extensions and their rent, and estimates the units of transactions the
// chain cannot simulate yet; the export writes those table steps,
// unsigned, with the payouts; settle sign signs them all offline after
// checking each; import-signed records and sends the steps, then the
// payouts, which settle the epoch (balances exact). A second import sends
// nothing. In epoch 2, with the table on chain, the dry run simulates
// every transaction as it is and needs no table step for old recipients.
func TestSettleV0DryRunAndOfflineRoundTrip(t *testing.T) {
	l := startLocalnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := l.SetPrioritizationFees(ctx, []uint64{1000}); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, network(40, nil, emission))
	p := w.plan(1)
	head := w.head()

	dr, err := settlement.NewSettler(dial(l), w.j, fastConfig(l, 1)).DryRun(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 40 new accounts: 10 per transaction (the instruction trace); 42
	// table addresses (the treasury's token account, the mint, 40 token
	// accounts): a creation and two extensions.
	if dr.TxVersion != settlement.TxV0 || dr.Failures != 0 || len(dr.Transactions) != 4 || len(dr.TableSteps) != 3 || dr.TableSteps[0].Kind != "create" ||
		len(dr.TableSteps[1].Addresses)+len(dr.TableSteps[2].Addresses) != 42 || len(dr.LookupTables) != 1 || dr.PriorityFee != 1000 {
		t.Fatalf("dry run: %+v", dr)
	}
	var priority uint64
	for _, tx := range dr.Transactions {
		if tx.Version != settlement.TxV0 || !tx.UnitsEstimated || tx.Units == 0 || tx.ComputeUnitLimit <= uint32(tx.Units) || tx.Bytes > settlement.MaxTxSize ||
			tx.PriorityLamports != (settlement.Budget{Units: tx.ComputeUnitLimit, Price: 1000}).PriorityLamports() {
			t.Fatalf("dry run tx: %+v", tx)
		}
		priority += tx.PriorityLamports
	}
	c := dr.Cost
	if c == nil || c.Transactions != 4 || c.Creates != 40 || c.SignatureLamports != (4+3)*settlement.SignatureFee || c.PriorityLamports != priority ||
		c.TotalLamports != c.SignatureLamports+c.PriorityLamports+c.RentLamports || c.Tokens != p.Total {
		t.Fatalf("dry run cost: %+v", c)
	}
	// The rent is 40 token accounts' and the table's (header and 42 addresses).
	rc := rpc.New(l.RPC)
	ata, err1 := rc.GetMinimumBalanceForRentExemption(ctx, 165, rpc.CommitmentFinalized)
	table, err2 := rc.GetMinimumBalanceForRentExemption(ctx, 56+32*42, rpc.CommitmentFinalized)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if c.RentLamports != 40*ata+table {
		t.Fatalf("rent %d, want 40 × %d + %d", c.RentLamports, ata, table)
	}
	if w.head() != head {
		t.Fatal("the dry run appended to the log")
	}

	dir := t.TempDir()
	cfg := fastConfig(l, 1)
	cfg.Signer, cfg.Authority = nil, l.Treasury.PublicKey()
	m, err := settlement.NewSettler(dial(l), w.j, cfg).Export(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.TxVersion != settlement.TxV0 || len(m.Transactions) != 4 || len(m.TableSteps) != 3 || len(m.Tables) != 1 || len(m.Tables[0].Addresses) != 42 || w.head() != head {
		t.Fatalf("export: %+v, %d events appended", m, w.head()-head)
	}
	for _, mt := range m.Transactions {
		tx := readB64(t, filepath.Join(dir, mt.File))
		if !tx.Message.IsVersioned() || len(tx.Message.AddressTableLookups) != 1 {
			t.Fatalf("%s is not a v0 transaction loading the table", mt.File)
		}
	}
	// Unsigned, the import is refused, and nothing is recorded or sent.
	if _, err := settlement.NewSettler(dial(l), w.j, fastConfig(l, 0)).ImportSigned(ctx, dir); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Fatalf("unsigned import: %v", err)
	}
	// A table step changed after the export (another address appended)
	// is refused by the signer.
	tampered := t.TempDir()
	copyDir(t, dir, tampered)
	editFile(t, filepath.Join(tampered, "manifest.json"), m.TableSteps[1].Addresses[5], solana.NewWallet().PublicKey().String())
	if _, err := settlement.SignExport(tampered, l.Treasury); err == nil || !strings.Contains(err.Error(), "table step") {
		t.Fatalf("tampered table step signed: %v", err)
	}
	if n, err := settlement.SignExport(dir, l.Treasury); err != nil || n != 3+4 {
		t.Fatal(n, err)
	}
	if w.head() != head {
		t.Fatal("refused imports appended events")
	}
	w.reload()
	rep, err := settlement.NewSettler(dial(l), w.j, fastConfig(l, 0)).ImportSigned(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Settled || rep.Transactions != 4 || rep.TableTransactions != 3 || rep.Paid != p.Total || rep.TxVersion != settlement.TxV0 ||
		len(rep.LookupTables) != 1 || rep.LookupTables[0] != m.Tables[0].Table {
		t.Fatalf("import report %+v", rep)
	}
	// Each recorded payout names the table and the addresses it loaded.
	recorded := 0
	err = w.store.ReadAll(ctx, 1, func(e *eventstore.RecordedEvent) error {
		if e.Type != domain.TypePayoutSubmitted {
			return nil
		}
		var ps domain.PayoutSubmitted
		if err := json.Unmarshal(e.Data, &ps); err != nil {
			return err
		}
		if len(ps.LookupTables) != 1 || ps.LookupTables[0] != m.Tables[0].Table || ps.LoadedAddresses == nil || len(ps.LoadedAddresses.Writable) == 0 {
			return fmt.Errorf("recorded payout %s names tables %v, loaded %v", ps.Signature, ps.LookupTables, ps.LoadedAddresses)
		}
		recorded++
		return nil
	})
	if err != nil || recorded != 4 {
		t.Fatalf("%d payouts recorded: %v", recorded, err)
	}
	if paid := checkBalances(t, ctx, l, w.ledger()); paid != p.Total {
		t.Fatalf("paid %s, plan %s", paid, p.Total)
	}
	verifyMemos(t, ctx, l, w.ledger(), 1)
	// Importing again records and sends nothing.
	w.reload()
	head = w.head()
	if rep, err := settlement.NewSettler(dial(l), w.j, fastConfig(l, 0)).ImportSigned(ctx, dir); err != nil || rep.Transactions != 0 || rep.TableTransactions != 0 || w.head() != head {
		t.Fatalf("second import: %+v %v", rep, err)
	}

	// Epoch 2, the same 40 operators: their accounts are in the table, so
	// no table step, and every transaction is simulated as it is.
	b := more("v0-offline-2")
	for i := 0; i < 40; i++ {
		b.Compute(fmt.Sprintf("task-%03d-2", i), fmt.Sprintf("node-%03d", i), 60_000, "2")
	}
	b.CloseEpoch(2, emission)
	w.add(b)
	w.plan(2)
	if err := l.AdvanceSlots(ctx, 2); err != nil {
		t.Fatal(err)
	}
	dr, err = settlement.NewSettler(dial(l), w.j, fastConfig(l, 2)).DryRun(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(dr.TableSteps) != 0 || dr.Failures != 0 || len(dr.Transactions) != 1 || dr.Cost.RentLamports != 0 || dr.Cost.Creates != 0 {
		t.Fatalf("epoch 2 dry run: %+v %+v", dr, dr.Cost)
	}
	if tx := dr.Transactions[0]; tx.UnitsEstimated || tx.Recipients != 40 || tx.Units == 0 {
		t.Fatalf("epoch 2 dry run tx: %+v", tx)
	}
}

func readB64(t *testing.T, path string) *solana.Transaction {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := solana.TransactionFromBase64(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// TestSettleV0ImportResumesAfterCrash: import-signed of a v0 export
// stopped after the table's extension was recorded (not sent), then after
// the payouts were recorded (not sent), and run again each time: the
// recorded steps are not recorded twice but sent and awaited, the
// recorded payouts resolved, and the last run settles the epoch with every
// balance exact; a further import sends nothing.
func TestSettleV0ImportResumesAfterCrash(t *testing.T) {
	l := startLocalnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newWorld(t, network(20, nil, emission))
	p := w.plan(1)
	dir := t.TempDir()
	cfg := fastConfig(l, 1)
	cfg.Signer, cfg.Authority = nil, l.Treasury.PublicKey()
	m, err := settlement.NewSettler(dial(l), w.j, cfg).Export(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.TableSteps) != 2 || len(m.Transactions) != 2 {
		t.Fatalf("export: %d table steps, %d transactions", len(m.TableSteps), len(m.Transactions))
	}
	if _, err := settlement.SignExport(dir, l.Treasury); err != nil {
		t.Fatal(err)
	}
	importUntil := func(point string, at int) (crashed bool, rep *settlement.Report, err error) {
		w.reopen()
		c := fastConfig(l, 0)
		c.Hook = func(p string, n int) {
			if p == point && n == at {
				panic(crash{p})
			}
		}
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(crash); !ok {
					panic(r)
				}
				crashed = true
			}
		}()
		rep, err = settlement.NewSettler(dial(l), w.j, c).ImportSigned(ctx, dir)
		return false, rep, err
	}
	// The creation recorded and sent, the extension recorded, not sent.
	if crashed, _, err := importUntil("table-after-record", 2); !crashed || err != nil {
		t.Fatal(crashed, err)
	}
	if got := w.typesSince(1); got[domain.TypeLookupTableExtended] != 1 || got[domain.TypePayoutSubmitted] != 0 {
		t.Fatalf("after the first crash: %v", got)
	}
	// The payouts recorded, not sent.
	if crashed, _, err := importUntil("after-append", 1); !crashed || err != nil {
		t.Fatal(crashed, err)
	}
	if got := w.typesSince(1); got[domain.TypeLookupTableCreated] != 1 || got[domain.TypeLookupTableExtended] != 1 || got[domain.TypePayoutSubmitted] != 2 {
		t.Fatalf("after the second crash: %v", got)
	}
	crashed, rep, err := importUntil("none", 0)
	if crashed || err != nil || !rep.Settled || rep.Transactions != 0 || rep.TableTransactions != 0 {
		t.Fatalf("resumed import: %v %+v %v", crashed, rep, err)
	}
	if paid := checkBalances(t, ctx, l, w.ledger()); paid != p.Total {
		t.Fatalf("paid %s, plan %s", paid, p.Total)
	}
	head := w.head()
	if _, rep, err := importUntil("none", 0); err != nil || rep.Transactions != 0 || w.head() != head {
		t.Fatalf("another import: %+v %v", rep, err)
	}
}
