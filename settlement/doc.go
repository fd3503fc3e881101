// Package settlement is the weekly payout batch: it derives an epoch's
// plan from the ledger (who is owed what, with a wallet), its Merkle root
// and inclusion proofs, packs SPL-token transfers into legacy Solana
// transactions, and records, sends and confirms them so that no operator
// is ever paid twice — across crashes, resends, RPC faults and repeated
// runs.
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
//	                    height and the signed bytes (base64)
//	PayoutConfirmed     finalized without error, with its slot
//	PayoutExpired       can never pay: its blockhash expired and the
//	                    signature is unknown, or it landed and failed
//
// A PayoutConfirmed may follow a PayoutExpired of the same transaction,
// and a PayoutExpired a PayoutConfirmed: a correction, recorded when the
// chain contradicts the log (see "Nothing on the log's word").
//
// # Transactions
//
// A payout transaction is legacy, signed by the treasury authority alone
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
