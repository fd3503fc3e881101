// Package settlement is the weekly payout batch: it derives an epoch's
// plan from the ledger (who is owed what, with a wallet), its Merkle root
// and inclusion proofs, packs SPL-token transfers into version-0 Solana
// transactions with the treasury's address lookup tables and a compute
// budget (or, with TxVersion "legacy", into v1's legacy transactions),
// and records, sends and confirms them so that no operator is ever paid
// twice — across crashes, resends, RPC faults and repeated runs.
//
// # Events
//
// Everything goes to the stream settlement-<epoch> through a Journal
// (Ledger.Check, then one atomic append; the expected stream revision
// keeps a second process out):
//
//	SettlementPlanned   the payouts, root and total (split into parts,
//	                    appended atomically, when over 1 MiB)
//	PayoutSubmitted     one transaction, appended BEFORE it is sent:
//	                    signature, recipients, blockhash, last valid block
//	                    height and the signed bytes (base64); a v0 one also
//	                    lookup_tables and loaded_addresses (what it resolved)
//	PayoutConfirmed     finalized without error, with its slot
//	PayoutExpired       can never pay: its blockhash expired and the
//	                    signature is unknown, or it landed and failed
//
// A PayoutConfirmed may follow a PayoutExpired of the same transaction,
// and a PayoutExpired a PayoutConfirmed: a correction, recorded when the
// chain contradicts the log (see "Nothing on the log's word").
//
// The treasury's lookup tables have a stream of their own,
// lookuptable-<authority>, shared by every epoch:
//
//	LookupTableCreated  a CreateLookupTable, appended BEFORE it is sent,
//	                    with its recent slot and signed bytes
//	LookupTableExtended an ExtendLookupTable (≤ 30 addresses), likewise
//
// See tables.go: the chain's table account, not the record, says what a
// table holds; a recorded table transaction that may still land is re-sent
// and waited for before anything else, one that cannot is replaced.
//
// # Version-0 transactions (the default)
//
// Two compute-budget instructions (SetComputeUnitLimit: the units a
// simulation of the very transaction used plus 10 % and 1,000;
// SetComputeUnitPrice: the FeePercentile of getRecentPrioritizationFees
// over the authority and the treasury's token account, or PriorityFee,
// lowered to keep a round under MaxFeeLamports), then per recipient an
// optional idempotent ATA creation and a TransferChecked, then the memo
// "epochledger:<epoch>:<root>:<i>/<n>"; on 1/n, when the plan recorded a
// log_head (the log's chain hash at plan time), it ends in ":<log head>",
// anchoring the log on chain (domain.MemoV0Anchor; verify --anchors reads it back).
// PackV0 packs the first transaction for that longer memo (3 to 4 fewer
// transfers to existing accounts). The treasury's token account, the
// mint and every recipient's token account are loaded from the treasury's
// table (one per treasury, reused week after week, extended as new token
// accounts appear, another once 256 fill it; an extension is used only
// from the slot after it). PackV0 fills each transaction to the first of
// three limits: 1,232 bytes, 64 account locks, and the 64-entry
// instruction trace (an idempotent creation of a new account runs 5
// entries: the ATA program and 4 invocations). That gives 47 transfers
// per transaction to existing accounts (bytes) and 10 with creation
// (trace).
//
// # Legacy transactions (TxVersion "legacy")
//
// A legacy payout transaction is signed by the treasury authority alone
// (fee payer and token owner), and holds for each recipient an optional
// idempotent create-associated-token-account (when getMultipleAccounts
// does not find it) and a TransferChecked of 8 decimals from the
// treasury's token account, then one Memo "epochledger:<epoch>:<root>".
// Pack fills each transaction up to 1,232 bytes: 9 recipients with
// account creation, 18 without.
//
// # Why paying twice cannot happen
//
// See Settler: an amount is in at most one recorded live transaction
// (the ledger refuses more); a recorded transaction is only given up
// (PayoutExpired) once the chain proves it can never land; only then are
// its recipients packed into a new one. The signed bytes are in the
// record, so a restart re-sends exactly what may already be in flight.
//
// # Nothing on the log's word
//
// Settlement events can be imported, so a recorded chain fact may be
// forged. Before anything is sent (Submit, Export, ImportSigned), audit
// asks the chain: a confirmed transaction must be finalized and carry its
// recorded transfers, else (once it can never land) a correcting
// PayoutExpired plans its recipients again; an expired transaction about
// to be re-planned must be unknown to the chain (searching the whole
// history) and unable to land by its own blockhash, else a correcting
// PayoutConfirmed keeps its recipients from being paid twice; and a
// recipient's token account must show no finalized transfer under the
// plan's memo that the log does not record. A transaction recorded by
// another run is confirmed only once the chain's copy carries its
// transfers.
//
// # Re-planning
//
// Replan replaces an epoch's plan (an operator's new wallet) while
// nothing of it was sent; WalletChanges names the planned operators whose
// wallet changed since.
package settlement
