package settlement

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gagliardetto/solana-go"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/internal/durable"
)

// DryRunTx is one simulated transaction of a dry run.
type DryRunTx struct {
	Recipients int      `json:"recipients"`
	Creates    int      `json:"creates"` // token accounts it would create
	Amount     string   `json:"amount"`  // base units
	Bytes      int      `json:"bytes"`
	Units      uint64   `json:"compute_units"`
	Err        any      `json:"err,omitempty"`
	Logs       []string `json:"logs,omitempty"` // when it fails
	// Version is the transaction's version (v0 or legacy).
	Version string `json:"version"`
	// v0: ComputeUnitLimit and PriorityLamports are its compute budget
	// (the simulated units plus the margin; price × limit). UnitsEstimated:
	// its token accounts are not in an active lookup table yet, so
	// compute_units are those of the same transfers simulated in legacy
	// transactions.
	ComputeUnitLimit uint32 `json:"compute_unit_limit,omitempty"`
	PriorityLamports uint64 `json:"priority_lamports,omitempty"`
	UnitsEstimated   bool   `json:"units_estimated,omitempty"`
}

// DryRun is what a dry run would send.
type DryRun struct {
	Epoch        uint64     `json:"epoch"`
	Root         string     `json:"root"`
	Memo         string     `json:"memo"`
	InFlight     int        `json:"in_flight"` // recorded earlier, not resolved; a submit resolves them first
	Recipients   int        `json:"recipients"`
	Total        string     `json:"total"`
	Transactions []DryRunTx `json:"transactions"`
	Failures     int        `json:"failures"`
	// Cost is what sending them costs the treasury (preflight passed).
	Cost *Cost `json:"cost,omitempty"`
	// ComputeUnits is the sum of the transactions' simulated compute units.
	ComputeUnits uint64 `json:"compute_units"`
	// WalletChanges: planned operators whose wallet changed since the plan
	// (see WalletChanges).
	WalletChanges []WalletChange `json:"wallet_changes,omitempty"`
	// TxVersion is the version of the transactions built (v0 or legacy).
	TxVersion string `json:"tx_version"`
	// v0: TableSteps are the lookup-table transactions a submit sends
	// first (their signatures and rent are in Cost); LookupTables the
	// tables the payouts load from.
	TableSteps   []TableStep `json:"table_steps,omitempty"`
	LookupTables []string    `json:"lookup_tables,omitempty"`
	// PriorityFee is the compute-unit price used (micro-lamports per unit).
	PriorityFee uint64 `json:"priority_fee_micro_lamports,omitempty"`
	// Shortfall is, for Estimate only, the preflight's refusal: what the
	// treasury lacks to send them (a dry run fails instead).
	Shortfall string `json:"shortfall,omitempty"`
}

// Estimate is DryRun for a plan's report: the same transactions, units
// and cost, but a treasury too poor to send them is reported in
// Shortfall instead of failing.
func (s *Settler) Estimate(ctx context.Context) (*DryRun, error) {
	s.estimate = true
	defer func() { s.estimate = false }()
	return s.DryRun(ctx)
}

// preflight is the funds check of a dry run: an error, or for Estimate
// the shortfall noted in out.
func (s *Settler) preflight(err error, out *DryRun) error {
	if err != nil && s.estimate && errors.Is(err, ErrInsufficient) {
		out.Shortfall = err.Error()
		return nil
	}
	return err
}

// DryRun builds the transactions a submit would send now and simulates
// each (simulateTransaction); it records and sends nothing.
func (s *Settler) DryRun(ctx context.Context) (*DryRun, error) {
	st, err := s.settlement()
	if err != nil {
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		return nil, err
	}
	pending, err := s.inFlight(st)
	if err != nil {
		return nil, err
	}
	transfers, err := s.pendingTransfers(ctx, st)
	if err != nil {
		return nil, err
	}
	out := &DryRun{Epoch: st.Epoch, Root: st.Root, Memo: s.memo, InFlight: len(pending), Recipients: len(transfers), Transactions: []DryRunTx{},
		WalletChanges: WalletChanges(s.j.Ledger(), st)}
	for _, c := range out.WalletChanges {
		s.cfg.Log.Warn(c.Advice, "operator", c.OperatorID, "planned_wallet", c.Planned, "current_wallet", c.Current)
	}
	total, _ := sumTransfers(transfers)
	out.Total = total.String()
	out.TxVersion = s.cfg.TxVersion
	if len(transfers) == 0 {
		return out, nil
	}
	if s.cfg.TxVersion == TxV0 {
		return s.dryRunV0(ctx, st.Root, transfers, out)
	}
	groups := Pack(&s.treasury, transfers, len(s.memo))
	if err := s.preflight(s.checkFunds(ctx, transfers, len(groups)), out); err != nil {
		return nil, err
	}
	c, err := s.cost(ctx, transfers, len(groups))
	if err != nil {
		return nil, err
	}
	out.Cost = &c
	txs, _, _, err := s.sign(ctx, groups, 0, len(groups), nil, nil)
	if err != nil {
		return nil, err
	}
	for i, tx := range txs {
		n, _ := TxSize(tx)
		d := DryRunTx{Recipients: len(groups[i]), Bytes: n, Version: TxLegacy}
		amt, creates := sumTransfers(groups[i])
		d.Amount, d.Creates = amt.String(), creates
		res, err := s.chain.Simulate(ctx, tx, len(s.cfg.Signer) == 64)
		if err != nil {
			return nil, err
		}
		if res.UnitsConsumed != nil {
			d.Units = *res.UnitsConsumed
			out.ComputeUnits += d.Units
		}
		if res.Err != nil {
			d.Err, d.Logs = res.Err, res.Logs
			out.Failures++
		}
		out.Transactions = append(out.Transactions, d)
	}
	return out, nil
}

// preparedV0 is what a dry run and an export of v0 transactions both
// start from: the table steps the plan needs, the transfers packed against
// the tables as those steps leave them, the cost, the priority price, one
// blockhash, and the transactions built and simulated with it.
type preparedV0 struct {
	tables    *offlineTables
	groups    [][]Transfer
	cost      Cost
	price     uint64
	blockhash solana.Hash
	lastValid uint64
	built     []builtV0
}

// prepareV0 builds a preparedV0; nothing is recorded or sent.
func (s *Settler) prepareV0(ctx context.Context, root string, transfers []Transfer) (*preparedV0, error) {
	s.report = &Report{Epoch: s.cfg.Epoch, Root: root, TxVersion: TxV0} // scratch: nothing is recorded
	ot, err := s.planTables(ctx, tableAddresses(&s.treasury, transfers))
	if err != nil {
		return nil, err
	}
	pv := &preparedV0{tables: ot, groups: PackV0(&s.treasury, transfers, s.memo, s.logHead, ot.after.tableOf())}
	if pv.cost, err = s.cost(ctx, transfers, len(pv.groups)); err != nil {
		return nil, err
	}
	if err := s.stepsCost(ctx, ot, &pv.cost); err != nil {
		return nil, err
	}
	if pv.price, err = s.priorityPrice(ctx); err != nil {
		return nil, err
	}
	if pv.blockhash, pv.lastValid, err = s.chain.LatestBlockhash(ctx); err != nil {
		return nil, err
	}
	if pv.built, err = s.buildOffline(ctx, pv.groups, pv.blockhash, ot, pv.price); err != nil {
		return nil, err
	}
	return pv, nil
}

// dryRunV0 is DryRun for v0: the transactions against the tables as they
// will be once the missing token accounts are added (see offline_v0.go),
// their compute budgets, the table steps, and what it all costs.
func (s *Settler) dryRunV0(ctx context.Context, root string, transfers []Transfer, out *DryRun) (*DryRun, error) {
	pv, err := s.prepareV0(ctx, root, transfers)
	if err != nil {
		return nil, err
	}
	ot, groups, c, price, built := pv.tables, pv.groups, pv.cost, pv.price, pv.built
	for i, b := range built {
		n, _ := TxSize(b.tx)
		d := DryRunTx{Recipients: len(groups[i]), Bytes: n, Units: b.units, Version: TxV0, ComputeUnitLimit: b.budget.Units,
			PriorityLamports: b.budget.PriorityLamports(), UnitsEstimated: b.estimated}
		amt, creates := sumTransfers(groups[i])
		d.Amount, d.Creates = amt.String(), creates
		if b.simErr != nil {
			d.Err, d.Logs = b.simErr, b.logs
			out.Failures++
		}
		c.PriorityLamports += d.PriorityLamports
		out.ComputeUnits += b.units
		out.Transactions = append(out.Transactions, d)
	}
	c.TotalLamports = c.SignatureLamports + c.PriorityLamports + c.RentLamports
	if err := s.preflight(s.checkCost(ctx, c), out); err != nil {
		return nil, err
	}
	out.Cost, out.TableSteps, out.PriorityFee = &c, ot.steps, price
	for _, k := range ot.order {
		out.LookupTables = append(out.LookupTables, k.String())
	}
	return out, nil
}

// Manifest describes an export of unsigned payout transactions, written
// as DIR/manifest.json next to one file per transaction.
type Manifest struct {
	Version              int          `json:"version"`
	Epoch                uint64       `json:"epoch"`
	Root                 string       `json:"root"`
	Memo                 string       `json:"memo"`
	Mint                 string       `json:"mint"`
	Authority            string       `json:"authority"` // the one signer, fee payer and token owner
	Source               string       `json:"source"`    // treasury token account
	Blockhash            string       `json:"blockhash"`
	LastValidBlockHeight uint64       `json:"last_valid_block_height"`
	Transactions         []ManifestTx `json:"transactions"`
	// TxVersion is v0 or legacy ("" in exports before v0: legacy). A v0
	// export's TableSteps must land, in order, before its transactions
	// (import-signed sends them first); Tables are what its transactions
	// load once they have.
	TxVersion  string          `json:"tx_version,omitempty"`
	TableSteps []TableStep     `json:"table_steps,omitempty"`
	Tables     []ManifestTable `json:"lookup_tables,omitempty"`
}

// ManifestTx is one exported transaction.
type ManifestTx struct {
	// File holds the unsigned transaction in wire form, base64 (its one
	// signature all zero).
	File string `json:"file"`
	// SignedFile is where the signer writes the signed transaction, base64.
	SignedFile string `json:"signed_file"`
	// MessageSHA256 is the hash of the message bytes that must be signed.
	MessageSHA256 string             `json:"message_sha256"`
	Recipients    []domain.Recipient `json:"recipients"`
}

const manifestName = "manifest.json"

// Export writes the transactions a submit would send now, unsigned, to
// dir for an offline or multisig signer, with a manifest. It records
// nothing: ImportSigned records and sends them once signed. The
// transactions carry a recent blockhash, so they must be signed and
// imported before it expires (about 150 blocks).
func (s *Settler) Export(ctx context.Context, dir string) (*Manifest, error) {
	st, err := s.settlement()
	if err != nil {
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		return nil, err
	}
	// What is exported is paid by whoever signs it: nothing on the log's
	// word alone (audit may record what the chain says instead).
	if _, err := s.audit(ctx, st); err != nil {
		return nil, err
	}
	if pending, err := s.inFlight(st); err != nil {
		return nil, err
	} else if len(pending) > 0 {
		return nil, fmt.Errorf("%w: epoch %d has %d recorded transactions not yet resolved; run settle import-signed (or submit) to resolve them before exporting more", ErrStillInFlight, s.cfg.Epoch, len(pending))
	}
	transfers, err := s.pendingTransfers(ctx, st)
	if err != nil {
		return nil, err
	}
	if len(transfers) == 0 {
		return nil, fmt.Errorf("settlement: epoch %d has nothing left to send", s.cfg.Epoch)
	}
	if s.cfg.TxVersion == TxV0 {
		return s.exportV0(ctx, st.Root, transfers, dir)
	}
	groups := Pack(&s.treasury, transfers, len(s.memo))
	if err := s.checkFunds(ctx, transfers, len(groups)); err != nil {
		return nil, err
	}
	signer := s.cfg.Signer
	s.cfg.Signer = nil // export never signs
	txs, bh, lastValid, err := s.sign(ctx, groups, 0, len(groups), nil, nil)
	s.cfg.Signer = signer
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	m := &Manifest{Version: 1, Epoch: st.Epoch, Root: st.Root, Memo: s.memo, Mint: s.treasury.Mint.String(),
		Authority: s.treasury.Authority.String(), Source: s.treasury.Source.String(),
		Blockhash: bh.String(), LastValidBlockHeight: lastValid, TxVersion: TxLegacy}
	return m, m.write(dir, txs, groups)
}

// exportV0 is Export for v0: the table steps first (unsigned, in the
// order they must land), then the payouts against the tables as the
// steps leave them, all with one blockhash.
func (s *Settler) exportV0(ctx context.Context, root string, transfers []Transfer, dir string) (*Manifest, error) {
	pv, err := s.prepareV0(ctx, root, transfers)
	if err != nil {
		return nil, err
	}
	ot, groups, c, built := pv.tables, pv.groups, pv.cost, pv.built
	bh, lastValid := pv.blockhash, pv.lastValid
	txs := make([]*solana.Transaction, len(built))
	for i, b := range built {
		if b.simErr != nil {
			return nil, fmt.Errorf("settlement: payout transaction %d of %d (%d transfers) fails in simulation (%v); nothing was exported: %v", i+1, len(built), len(groups[i]), b.simErr, b.logs)
		}
		c.PriorityLamports += b.budget.PriorityLamports()
		txs[i] = b.tx
	}
	c.TotalLamports = c.SignatureLamports + c.PriorityLamports + c.RentLamports
	if err := s.checkCost(ctx, c); err != nil {
		return nil, err
	}
	m := &Manifest{Version: 1, Epoch: s.cfg.Epoch, Root: root, Memo: s.memo, Mint: s.treasury.Mint.String(),
		Authority: s.treasury.Authority.String(), Source: s.treasury.Source.String(),
		Blockhash: bh.String(), LastValidBlockHeight: lastValid, TxVersion: TxV0}
	for _, k := range ot.order {
		mt := ManifestTable{Table: k.String(), Addresses: []string{}}
		for _, a := range ot.after[k] {
			mt.Addresses = append(mt.Addresses, a.String())
		}
		m.Tables = append(m.Tables, mt)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for i := range ot.steps {
		st := ot.steps[i]
		tx, err := stepTx(&s.treasury, &st, bh)
		if err != nil {
			return nil, err
		}
		raw, err := tx.MarshalBinary()
		if err != nil {
			return nil, err
		}
		if st.MessageSHA256, err = messageHash(tx); err != nil {
			return nil, err
		}
		name := fmt.Sprintf("table-%02d-%s", i+1, st.Kind)
		st.File, st.SignedFile = name+".b64", name+".signed.b64"
		if err := durable.WriteFile(filepath.Join(dir, st.File), []byte(base64.StdEncoding.EncodeToString(raw)+"\n")); err != nil {
			return nil, err
		}
		m.TableSteps = append(m.TableSteps, st)
	}
	return m, m.write(dir, txs, groups)
}

// write writes the payout transactions and, last, the manifest to dir.
func (m *Manifest) write(dir string, txs []*solana.Transaction, groups [][]Transfer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, tx := range txs {
		raw, err := tx.MarshalBinary()
		if err != nil {
			return err
		}
		h, err := messageHash(tx)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("tx-%04d", i+1)
		rs := make([]domain.Recipient, len(groups[i]))
		for k, t := range groups[i] {
			rs[k] = t.Recipient
		}
		m.Transactions = append(m.Transactions, ManifestTx{File: name + ".b64", SignedFile: name + ".signed.b64", MessageSHA256: h, Recipients: rs})
		if err := durable.WriteFile(filepath.Join(dir, name+".b64"), []byte(base64.StdEncoding.EncodeToString(raw)+"\n")); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	// The manifest last: its presence means the export is complete.
	return durable.WriteFile(filepath.Join(dir, manifestName), append(b, '\n'))
}

// ReadManifest reads dir/manifest.json.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return nil, fmt.Errorf("settlement: export manifest: %w", err)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("settlement: %s: %w", filepath.Join(dir, manifestName), err)
	}
	if m.Version != 1 {
		return nil, fmt.Errorf("settlement: %s: version %d, want 1", filepath.Join(dir, manifestName), m.Version)
	}
	switch m.TxVersion {
	case "", TxLegacy:
		if len(m.TableSteps) > 0 || len(m.Tables) > 0 {
			return nil, fmt.Errorf("settlement: %s: a legacy export names lookup tables", filepath.Join(dir, manifestName))
		}
	case TxV0:
	default:
		return nil, fmt.Errorf("settlement: %s: tx_version %q, want %s or %s", filepath.Join(dir, manifestName), m.TxVersion, TxV0, TxLegacy)
	}
	names := make([][2]string, 0, len(m.Transactions)+len(m.TableSteps))
	for _, mt := range m.Transactions {
		names = append(names, [2]string{mt.File, mt.SignedFile})
	}
	for _, st := range m.TableSteps {
		names = append(names, [2]string{st.File, st.SignedFile})
	}
	for _, mt := range names {
		for _, name := range mt {
			if name == "" || filepath.Base(name) != name || name == manifestName {
				return nil, fmt.Errorf("settlement: %s: file name %q must name a file inside the export directory", filepath.Join(dir, manifestName), name)
			}
		}
	}
	return &m, nil
}

func readTx(path string) (*solana.Transaction, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tx, err := solana.TransactionFromBase64(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: not a base64 transaction: %w", path, err)
	}
	return tx, nil
}

func messageHash(tx *solana.Transaction) (string, error) {
	msg, err := tx.Message.MarshalBinary()
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(msg)
	return hex.EncodeToString(h[:]), nil
}

// SignExport signs every exported transaction of dir with key (what an
// offline machine holding the treasury key runs) and writes the signed
// files the manifest names. It checks each message against the manifest
// and the plan's shape first.
func SignExport(dir string, key solana.PrivateKey) (int, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return 0, err
	}
	if key.PublicKey().String() != m.Authority {
		return 0, fmt.Errorf("%w: the export must be signed by %s, not %s", ErrNotTreasury, m.Authority, key.PublicKey())
	}
	t, err := m.treasury()
	if err != nil {
		return 0, err
	}
	tables, err := m.tables()
	if err != nil {
		return 0, err
	}
	sign := func(tx *solana.Transaction, signed string) error {
		if _, err := tx.Sign(func(k solana.PublicKey) *solana.PrivateKey {
			if k == key.PublicKey() {
				return &key
			}
			return nil
		}); err != nil {
			return err
		}
		raw, err := tx.MarshalBinary()
		if err != nil {
			return err
		}
		return durable.WriteFile(filepath.Join(dir, signed), []byte(base64.StdEncoding.EncodeToString(raw)+"\n"))
	}
	// Every file is checked before any is signed.
	txs := make([]*solana.Transaction, 0, len(m.TableSteps)+len(m.Transactions))
	signed := make([]string, 0, cap(txs))
	for i := range m.TableSteps {
		st := &m.TableSteps[i]
		tx, err := readTx(filepath.Join(dir, st.File))
		if err != nil {
			return 0, err
		}
		if err := m.checkStep(tx, st, t); err != nil {
			return 0, err
		}
		txs, signed = append(txs, tx), append(signed, st.SignedFile)
	}
	for i := range m.Transactions {
		mt := &m.Transactions[i]
		tx, err := readTx(filepath.Join(dir, mt.File))
		if err != nil {
			return 0, err
		}
		if err := m.check(tx, mt, t, tables); err != nil {
			return 0, err
		}
		txs, signed = append(txs, tx), append(signed, mt.SignedFile)
	}
	for i, tx := range txs {
		if err := sign(tx, signed[i]); err != nil {
			return 0, err
		}
	}
	return len(txs), nil
}

func (m *Manifest) treasury() (*Treasury, error) {
	var t Treasury
	var err error
	if t.Authority, err = solana.PublicKeyFromBase58(m.Authority); err != nil {
		return nil, fmt.Errorf("settlement: manifest authority: %w", err)
	}
	if t.Source, err = solana.PublicKeyFromBase58(m.Source); err != nil {
		return nil, fmt.Errorf("settlement: manifest source: %w", err)
	}
	if t.Mint, err = solana.PublicKeyFromBase58(m.Mint); err != nil {
		return nil, fmt.Errorf("settlement: manifest mint: %w", err)
	}
	return &t, nil
}

// check verifies that tx is the manifest's transaction mt: same message
// hash, blockhash, and a payout of exactly its recipients (a v0 one with
// its accounts resolved through tables: the manifest's when signing,
// the chain's when importing).
func (m *Manifest) check(tx *solana.Transaction, mt *ManifestTx, t *Treasury, tables Tables) error {
	h, err := messageHash(tx)
	if err != nil {
		return err
	}
	if h != mt.MessageSHA256 {
		return fmt.Errorf("%w: %s: the message (sha256 %s) is not the exported one (%s)", errNotPayout, mt.File, h, mt.MessageSHA256)
	}
	if tx.Message.RecentBlockhash.String() != m.Blockhash {
		return fmt.Errorf("%w: %s: blockhash %s, the export used %s", errNotPayout, mt.File, tx.Message.RecentBlockhash, m.Blockhash)
	}
	transfers := make([]Transfer, len(mt.Recipients))
	for i, r := range mt.Recipients {
		if transfers[i], err = NewTransfer(r, t.Mint); err != nil {
			return err
		}
	}
	if tx.Message.IsVersioned() != (m.TxVersion == TxV0) {
		return fmt.Errorf("%w: %s: not a %s transaction, as the manifest says", errNotPayout, mt.File, m.version())
	}
	var loaded *domain.LoadedAddresses
	if tx.Message.IsVersioned() {
		if _, loaded, err = Loaded(tx, tables); err != nil {
			return fmt.Errorf("%w: %s: %v", errNotPayout, mt.File, err)
		}
	}
	if err := VerifyPayoutTxAny(tx, loaded, t, transfers, m.Memo); err != nil {
		return fmt.Errorf("%s: %w", mt.File, err)
	}
	return nil
}

// version is the export's transaction version.
func (m *Manifest) version() string {
	if m.TxVersion == "" {
		return TxLegacy
	}
	return m.TxVersion
}

// readSigned reads an export's signed transaction (the signed file, or
// the unsigned one where a signer wrote the signature into it) and checks
// it carries the authority's one valid signature.
func readSigned(dir, file, signedFile, authority string) (*solana.Transaction, error) {
	tx, err := readTx(filepath.Join(dir, signedFile))
	if errors.Is(err, os.ErrNotExist) {
		tx, err = readTx(filepath.Join(dir, file))
	}
	if err != nil {
		return nil, err
	}
	if len(tx.Signatures) != 1 || tx.Signatures[0].IsZero() {
		return nil, fmt.Errorf("settlement: %s is not signed (expected %s next to %s)", file, signedFile, file)
	}
	if err := tx.VerifySignatures(); err != nil {
		return nil, fmt.Errorf("settlement: %s: the signature does not verify with %s: %w", signedFile, authority, err)
	}
	return tx, nil
}

// ImportSigned records and sends the signed transactions of an export
// (see Export): each must be the exported message with a valid signature
// of the authority, pay exactly the recipients the manifest lists, and
// those recipients must still be planned and unsent (the ledger checks).
// Transactions already recorded by an earlier import are not recorded
// again; every in-flight transaction of the epoch is then resolved. The
// settler's Config takes the epoch, mint and authority from the manifest.
func (s *Settler) ImportSigned(ctx context.Context, dir string) (*Report, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	t, err := m.treasury()
	if err != nil {
		return nil, err
	}
	s.cfg.Epoch, s.cfg.Mint, s.cfg.Authority, s.cfg.Source = m.Epoch, t.Mint, t.Authority, t.Source
	st, err := s.settlement()
	if err != nil {
		return nil, err
	}
	if st.Root != m.Root || s.memo != m.Memo {
		return nil, fmt.Errorf("settlement: the export is of a plan with root %s; epoch %d's plan has root %s", m.Root, m.Epoch, st.Root)
	}
	s.report = &Report{Epoch: m.Epoch, Root: st.Root, Signatures: []string{}, TxVersion: m.version()}
	if err := s.prepare(ctx); err != nil {
		return nil, err
	}
	if s.report.Corrected, err = s.audit(ctx, st); err != nil {
		return s.report, err
	}
	tables, err := m.tables()
	if err != nil {
		return nil, err
	}
	// Every payout is checked (against the manifest's tables) before
	// anything is recorded or sent, the table steps included.
	var txs []*solana.Transaction
	var mts []*ManifestTx
	for i := range m.Transactions {
		mt := &m.Transactions[i]
		tx, err := readSigned(dir, mt.File, mt.SignedFile, m.Authority)
		if err != nil {
			return nil, err
		}
		if err := m.check(tx, mt, t, tables); err != nil {
			return nil, err
		}
		if st.Tx(tx.Signatures[0].String()) != nil {
			continue // recorded by an earlier import: resolved below with the rest
		}
		txs, mts = append(txs, tx), append(mts, mt)
	}
	if m.TxVersion == TxV0 && len(txs) > 0 {
		// The tables must hold, on chain and active, what the payouts load.
		if tables, err = s.importTableSteps(ctx, dir, m, t); err != nil {
			return s.report, err
		}
		for _, mt := range m.Tables {
			s.report.LookupTables = append(s.report.LookupTables, mt.Table)
		}
	}
	var evs []domain.Event
	var fresh []*flight
	for i, tx := range txs {
		mt := mts[i]
		sig := tx.Signatures[0].String()
		raw, err := tx.MarshalBinary()
		if err != nil {
			return nil, err
		}
		names, loaded, err := Loaded(tx, tables)
		if err != nil {
			return s.report, err
		}
		if err := m.check(tx, mt, t, tables); err != nil {
			return s.report, fmt.Errorf("settlement: the lookup tables on chain do not resolve as the export's: %w; nothing of the payouts was recorded or sent", err)
		}
		evs = append(evs, &domain.PayoutSubmitted{Epoch: m.Epoch, Signature: sig, Recipients: mt.Recipients, Blockhash: m.Blockhash,
			LastValidBlockHeight: m.LastValidBlockHeight, Transaction: base64.StdEncoding.EncodeToString(raw), LookupTables: names, LoadedAddresses: loaded})
		fresh = append(fresh, &flight{sig: tx.Signatures[0], raw: raw, lastValid: m.LastValidBlockHeight, recipients: mt.Recipients})
	}
	if len(evs) > 0 {
		h, err := s.chain.BlockHeight(ctx)
		if err != nil {
			return nil, err
		}
		if h > m.LastValidBlockHeight {
			what := "nothing was recorded"
			if s.report.TableTransactions > 0 {
				what = "no payout was recorded (its lookup-table steps were, and stay: the next export finds the table extended)"
			}
			return s.report, fmt.Errorf("settlement: the export's blockhash expired (block height %d > last valid %d); %s: export again and sign faster", h, m.LastValidBlockHeight, what)
		}
		if _, err := s.j.Append(ctx, Stream(m.Epoch), evs); err != nil {
			return nil, fmt.Errorf("settlement: record the signed transactions: %w; nothing was sent", err)
		}
		s.report.Transactions = len(evs)
		s.hook("after-append")
		for _, f := range fresh {
			s.send(ctx, f)
		}
	}
	earlier, err := s.inFlight(st)
	if err != nil {
		return s.report, err
	}
	pending := fresh
	for _, f := range earlier {
		if !slices.ContainsFunc(fresh, func(x *flight) bool { return x.sig == f.sig }) {
			pending = append(pending, f)
		}
	}
	if err := s.resolve(ctx, pending); err != nil {
		return s.report, err
	}
	s.report.Settled = st.Done()
	if len(s.report.Failed) > 0 {
		return s.report, fmt.Errorf("%w on chain: %v", ErrFailedOnChain, s.report.Failed)
	}
	return s.report, nil
}
