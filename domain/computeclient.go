package domain

import (
	"math/bits"
)

// TypeComputeClientRegistered registers a compute client (io.net, Beam,
// FedML …) with its own signing key and the caps on what it may attest.
const TypeComputeClientRegistered = "ComputeClientRegistered"

// ComputeClientPrefix begins the message a compute client signs to attest
// a node's work (ComputeClientMessage). It differs from the node's
// ComputeProofPrefix, so neither signature can pass for the other.
const ComputeClientPrefix = "epochledger-compute-client-v1"

// ComputeClientRegistered registers a compute client: the key that signs
// its attestations and the caps that bound them, recorded in the log so an
// auditor checks every ComputeWorkCompleted from the log alone. A later
// registration of the same client_id replaces its key and caps from its
// position on (key rotation, new caps); keys once registered stay the
// client's.
//
// From the first ComputeClientRegistered stored in a log on, every
// ComputeWorkCompleted must name a registered client in its client field
// and carry that client's client_signature; the usd it attests is at most
// max_usd_per_task, and the usd one client attests for one node in one
// epoch sums to at most max_usd_per_node_epoch. Logs without any client
// registration (stored before the rule) keep their meaning: their
// ComputeWorkCompleted are worth their usd as before.
type ComputeClientRegistered struct {
	ClientID           string `json:"client_id"`
	ClientPubkey       string `json:"client_pubkey"` // base58 ed25519 public key
	MaxUSDPerTask      USD    `json:"max_usd_per_task"`
	MaxUSDPerNodeEpoch USD    `json:"max_usd_per_node_epoch"`
}

// EventType implements Event.
func (*ComputeClientRegistered) EventType() string { return TypeComputeClientRegistered }

// Validate checks the stateless rules of ComputeClientRegistered; the
// key's curve rules and uniqueness need the log (CheckKeyRegistration).
func (e *ComputeClientRegistered) Validate() error {
	c := checker{event: TypeComputeClientRegistered}
	c.id("client_id", e.ClientID)
	c.check(validBase58N(e.ClientPubkey, 32), "client_pubkey", rulePubkey)
	c.check(!e.MaxUSDPerTask.IsZero(), "max_usd_per_task", rulePositive)
	c.check(!e.MaxUSDPerNodeEpoch.IsZero(), "max_usd_per_node_epoch", rulePositive)
	c.check(e.MaxUSDPerTask.Cmp(e.MaxUSDPerNodeEpoch) <= 0, "max_usd_per_task", "must be at most max_usd_per_node_epoch")
	return c.result()
}

// computeClientRegisteredFields are ComputeClientRegistered's members in catalogue order.
var computeClientRegisteredFields = fieldsOf(
	required("client_id", func(d *decoder, e *ComputeClientRegistered, v jsonValue) { e.ClientID = d.str(v) }),
	required("client_pubkey", func(d *decoder, e *ComputeClientRegistered, v jsonValue) { e.ClientPubkey = d.str(v) }),
	required("max_usd_per_task", func(d *decoder, e *ComputeClientRegistered, v jsonValue) { e.MaxUSDPerTask = d.usd(v) }),
	required("max_usd_per_node_epoch", func(d *decoder, e *ComputeClientRegistered, v jsonValue) { e.MaxUSDPerNodeEpoch = d.usd(v) }),
)

// ComputeClientMessage returns the canonical message a compute client
// signs to attest a node's work, the bytes of
//
//	epochledger-compute-client-v1\n<task_id>\n<node_id>\n<client_id>\n<output_hash>\n<duration_ms>\n<usd>
//
// with usd in its canonical form (USD.String()), as in ComputeProofMessage.
func ComputeClientMessage(taskID, nodeID, clientID, outputHash string, durationMS uint64, usd USD) []byte {
	return computeMessage(ComputeClientPrefix, taskID, nodeID, clientID, outputHash, durationMS, usd)
}

// ClientMessage returns the message the compute client signed.
func (e *ComputeWorkCompleted) ClientMessage() []byte {
	return ComputeClientMessage(e.TaskID, e.NodeID, e.Client, e.OutputHash, e.DurationMS, e.USD)
}

// AddUSD returns a+b and false when the sum exceeds the 128 bits of USD.
func AddUSD(a, b USD) (USD, bool) {
	lo, c := bits.Add64(a.lo, b.lo, 0)
	hi, c := bits.Add64(a.hi, b.hi, c)
	return USD{hi: hi, lo: lo}, c == 0
}
