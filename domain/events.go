package domain

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"slices"
	"strconv"

	"github.com/mr-tron/base58"
)

// Event types: the "type" of an envelope. Names are a public contract; new
// types may be added, none renamed.
const (
	TypeNodeRegistered       = "NodeRegistered"
	TypeOperatorWalletSet    = "OperatorWalletSet"
	TypeJobSubmitted         = "JobSubmitted"
	TypeFrameAssigned        = "FrameAssigned"
	TypeFrameRendered        = "FrameRendered"
	TypeFrameAccepted        = "FrameAccepted"
	TypeFrameRejected        = "FrameRejected"
	TypeComputeWorkCompleted = "ComputeWorkCompleted"
	TypeJobCompleted         = "JobCompleted"
	TypeBurnRecorded         = "BurnRecorded"
	TypeEpochClosed          = "EpochClosed"
	TypeBridgeConverted      = "BridgeConverted"
	TypeSettlementPlanned    = "SettlementPlanned"
	TypePayoutSubmitted      = "PayoutSubmitted"
	TypePayoutConfirmed      = "PayoutConfirmed"
	TypePayoutExpired        = "PayoutExpired"
)

// knownTypes is the catalogue; KnownTypes is a copy handed out.
var knownTypes = [...]string{
	TypeNodeRegistered,
	TypeOperatorWalletSet,
	TypeJobSubmitted,
	TypeFrameAssigned,
	TypeFrameRendered,
	TypeFrameAccepted,
	TypeFrameRejected,
	TypeComputeWorkCompleted,
	TypeComputeClientRegistered,
	TypeJobCompleted,
	TypeBurnRecorded,
	TypeEpochClosed,
	TypeBridgeConverted,
	TypeSettlementPlanned,
	TypePayoutSubmitted,
	TypePayoutConfirmed,
	TypePayoutExpired,
	TypeEmissionScheduleSet,
	TypeNodeAvailability,
	TypeLookupTableCreated,
	TypeLookupTableExtended,
}

// KnownTypes lists every event type in catalogue order. Changing it changes
// nothing in this package.
var KnownTypes = slices.Clone(knownTypes[:])

// IsKnownType reports whether t is an event type of the catalogue.
func IsKnownType(t string) bool { return internType(t) != "" }

// internType returns the constant equal to t, or "" when t is unknown, so
// that parsed envelopes share the constant instead of allocating. A switch
// (the compiler sorts the cases by length and bytes) rather than a loop:
// every event of a replay passes here, and most types share one length.
func internType(t string) string {
	switch t {
	case TypeNodeRegistered:
		return TypeNodeRegistered
	case TypeOperatorWalletSet:
		return TypeOperatorWalletSet
	case TypeJobSubmitted:
		return TypeJobSubmitted
	case TypeFrameAssigned:
		return TypeFrameAssigned
	case TypeFrameRendered:
		return TypeFrameRendered
	case TypeFrameAccepted:
		return TypeFrameAccepted
	case TypeFrameRejected:
		return TypeFrameRejected
	case TypeComputeWorkCompleted:
		return TypeComputeWorkCompleted
	case TypeComputeClientRegistered:
		return TypeComputeClientRegistered
	case TypeJobCompleted:
		return TypeJobCompleted
	case TypeBurnRecorded:
		return TypeBurnRecorded
	case TypeEpochClosed:
		return TypeEpochClosed
	case TypeBridgeConverted:
		return TypeBridgeConverted
	case TypeSettlementPlanned:
		return TypeSettlementPlanned
	case TypePayoutSubmitted:
		return TypePayoutSubmitted
	case TypePayoutConfirmed:
		return TypePayoutConfirmed
	case TypePayoutExpired:
		return TypePayoutExpired
	case TypeEmissionScheduleSet:
		return TypeEmissionScheduleSet
	case TypeNodeAvailability:
		return TypeNodeAvailability
	case TypeLookupTableCreated:
		return TypeLookupTableCreated
	case TypeLookupTableExtended:
		return TypeLookupTableExtended
	}
	return ""
}

// TypeName returns the catalogue's constant spelled by b, without
// allocating, or a new string for a type outside the catalogue.
func TypeName(b []byte) string {
	if k := internType(string(b)); k != "" {
		return k
	}
	return string(b)
}

// Event is the data of one event. Only pointers to the structs of this file
// implement it (DecodeEvent returns *FrameAccepted, …), so a type switch
// on an Event uses pointer cases.
type Event interface {
	// EventType returns the envelope type, e.g. TypeFrameAccepted.
	EventType() string
	// Validate checks the stateless rules and returns a *ValidationError
	// naming the first field that breaks one.
	Validate() error
}

// IsWorkEvent reports whether events of type t earn a share of an epoch's
// emission (FrameAccepted, ComputeWorkCompleted).
func IsWorkEvent(t string) bool { return t == TypeFrameAccepted || t == TypeComputeWorkCompleted }

// checker collects the first broken rule of one event.
type checker struct {
	event string
	err   *ValidationError
}

func (c *checker) fail(field, rule string) {
	if c.err == nil {
		c.err = invalid(c.event, field, rule)
	}
}

func (c *checker) check(ok bool, field, rule string) {
	if !ok {
		c.fail(field, rule)
	}
}

func (c *checker) id(field, v string)   { c.check(validID(v), field, ruleID) }
func (c *checker) hash(field, v string) { c.check(validHash(v), field, ruleSHA256) }
func (c *checker) epoch(v uint64)       { c.check(v >= 1, "epoch", ruleEpoch) }
func (c *checker) frame(v uint32)       { c.check(v < MaxFrames, "frame", ruleFrame) }
func (c *checker) duration(v uint64) {
	c.check(v >= 1 && v <= MaxDurationMS, "duration_ms", ruleDuration)
}
func (c *checker) wallet(field, v string) { c.check(validBase58N(v, 32), field, ruleWallet) }
func (c *checker) txsig(field, v string)  { c.check(validBase58N(v, 64), field, ruleTxSignature) }

// elemField names a field of an array element: payouts[3].amount.
func elemField(array string, i int, field string) string {
	return array + "[" + strconv.Itoa(i) + "]." + field
}

func (c *checker) result() error {
	if c.err == nil {
		return nil
	}
	return c.err
}

// NodeRegistered registers a rendering node of an operator with its signing
// key and OctaneBench score, and optionally its GPU memory (a node without
// vram_gb earns no availability reward).
type NodeRegistered struct {
	NodeID     string  `json:"node_id"`
	OperatorID string  `json:"operator_id"`
	NodePubkey string  `json:"node_pubkey"` // base58 ed25519 public key
	GPU        string  `json:"gpu"`
	OBScore    OBScore `json:"ob_score"`
	VRAMGB     uint32  `json:"vram_gb,omitempty"` // 1..4096; 0 = not stated
}

// EventType implements Event.
func (*NodeRegistered) EventType() string { return TypeNodeRegistered }

// nodeRegisteredFields are NodeRegistered's members in catalogue order.
var nodeRegisteredFields = fieldsOf(
	required("node_id", func(d *decoder, e *NodeRegistered, v jsonValue) { e.NodeID = d.str(v) }),
	required("operator_id", func(d *decoder, e *NodeRegistered, v jsonValue) { e.OperatorID = d.str(v) }),
	required("node_pubkey", func(d *decoder, e *NodeRegistered, v jsonValue) { e.NodePubkey = d.str(v) }),
	required("gpu", func(d *decoder, e *NodeRegistered, v jsonValue) { e.GPU = d.str(v) }),
	required("ob_score", func(d *decoder, e *NodeRegistered, v jsonValue) {
		hi, lo := d.decimal(v, OBScoreDecimals)
		if hi != 0 {
			d.fail(decRange.rule(0))
		}
		e.OBScore = OBScore(lo)
	}),
	optional("vram_gb", func(d *decoder, e *NodeRegistered, v jsonValue) {
		if u := d.uint32(v, MaxVRAMGB, ruleVRAM); u == 0 {
			d.fail(ruleVRAM)
		} else {
			e.VRAMGB = u
		}
	}),
)

// Validate checks the stateless rules of NodeRegistered.
func (e *NodeRegistered) Validate() error {
	c := checker{event: TypeNodeRegistered}
	c.id("node_id", e.NodeID)
	c.id("operator_id", e.OperatorID)
	c.check(validBase58N(e.NodePubkey, 32), "node_pubkey", rulePubkey)
	c.check(validText(e.GPU), "gpu", ruleText)
	c.check(e.OBScore > 0, "ob_score", rulePositive)
	c.check(e.VRAMGB <= MaxVRAMGB, "vram_gb", ruleVRAM)
	return c.result()
}

// OperatorWalletSet sets the Solana wallet an operator is paid to.
type OperatorWalletSet struct {
	OperatorID string `json:"operator_id"`
	Wallet     string `json:"wallet"`                // base58, 32 bytes, off-curve allowed
	EthAddress string `json:"eth_address,omitempty"` // optional
}

// EventType implements Event.
func (*OperatorWalletSet) EventType() string { return TypeOperatorWalletSet }

// operatorWalletSetFields are OperatorWalletSet's members in catalogue order.
var operatorWalletSetFields = fieldsOf(
	required("operator_id", func(d *decoder, e *OperatorWalletSet, v jsonValue) { e.OperatorID = d.str(v) }),
	required("wallet", func(d *decoder, e *OperatorWalletSet, v jsonValue) { e.Wallet = d.str(v) }),
	optional("eth_address", func(d *decoder, e *OperatorWalletSet, v jsonValue) { e.EthAddress = d.str(v) }),
)

// Validate checks the stateless rules of OperatorWalletSet.
func (e *OperatorWalletSet) Validate() error {
	c := checker{event: TypeOperatorWalletSet}
	c.id("operator_id", e.OperatorID)
	c.wallet("wallet", e.Wallet)
	c.check(e.EthAddress == "" || validEthHex(e.EthAddress, 40), "eth_address", ruleEthAddress)
	return c.result()
}

// JobSubmitted is an artist's render job and the price of its work.
type JobSubmitted struct {
	JobID     string `json:"job_id"`
	Artist    string `json:"artist"`
	SceneHash string `json:"scene_hash"` // lowercase hex sha256
	Frames    uint32 `json:"frames"`
	USDPerOBh USD    `json:"usd_per_obh"`
}

// EventType implements Event.
func (*JobSubmitted) EventType() string { return TypeJobSubmitted }

// jobSubmittedFields are JobSubmitted's members in catalogue order.
var jobSubmittedFields = fieldsOf(
	required("job_id", func(d *decoder, e *JobSubmitted, v jsonValue) { e.JobID = d.str(v) }),
	required("artist", func(d *decoder, e *JobSubmitted, v jsonValue) { e.Artist = d.str(v) }),
	required("scene_hash", func(d *decoder, e *JobSubmitted, v jsonValue) { e.SceneHash = d.str(v) }),
	required("frames", func(d *decoder, e *JobSubmitted, v jsonValue) { e.Frames = d.uint32(v, MaxFrames, ruleFrames) }),
	required("usd_per_obh", func(d *decoder, e *JobSubmitted, v jsonValue) { e.USDPerOBh = d.usd(v) }),
)

// Validate checks the stateless rules of JobSubmitted.
func (e *JobSubmitted) Validate() error {
	c := checker{event: TypeJobSubmitted}
	c.id("job_id", e.JobID)
	c.id("artist", e.Artist)
	c.hash("scene_hash", e.SceneHash)
	c.check(e.Frames >= 1 && e.Frames <= MaxFrames, "frames", ruleFrames)
	c.check(!e.USDPerOBh.IsZero(), "usd_per_obh", rulePositive)
	return c.result()
}

// FrameAssigned leases a frame of a job to a node.
type FrameAssigned struct {
	JobID      string `json:"job_id"`
	Frame      uint32 `json:"frame"`
	NodeID     string `json:"node_id"`
	LeaseUntil string `json:"lease_until"` // RFC 3339, kept as written
	// MaxLeases is the number of live leases the node was allowed when
	// this one was granted (its parallelism: serve's --leases-per-gpu ×
	// its GPUs). Optional (absent in logs written before it): with the
	// envelope times of the FrameAssigned (lease start) and of the
	// FrameRendered (report), it lets an auditor check from the log alone
	// that a node's reported durations do not overlap beyond it (see
	// docs/api.md, "Work bounded by wall time").
	MaxLeases uint32 `json:"max_leases,omitempty"`
}

// EventType implements Event.
func (*FrameAssigned) EventType() string { return TypeFrameAssigned }

// frameAssignedFields are FrameAssigned's members in catalogue order.
var frameAssignedFields = fieldsOf(
	required("job_id", func(d *decoder, e *FrameAssigned, v jsonValue) { e.JobID = d.str(v) }),
	required("frame", func(d *decoder, e *FrameAssigned, v jsonValue) { e.Frame = d.uint32(v, MaxFrames-1, ruleFrame) }),
	required("node_id", func(d *decoder, e *FrameAssigned, v jsonValue) { e.NodeID = d.str(v) }),
	required("lease_until", func(d *decoder, e *FrameAssigned, v jsonValue) { e.LeaseUntil = d.str(v) }),
	optional("max_leases", func(d *decoder, e *FrameAssigned, v jsonValue) { e.MaxLeases = d.uint32(v, MaxLeases, ruleMaxLeases) }),
)

// Validate checks the stateless rules of FrameAssigned. That the frame is
// in the job's range needs the job: the command layer checks it.
func (e *FrameAssigned) Validate() error {
	c := checker{event: TypeFrameAssigned}
	c.id("job_id", e.JobID)
	c.frame(e.Frame)
	c.id("node_id", e.NodeID)
	c.check(validTime(e.LeaseUntil), "lease_until", ruleTime)
	c.check(e.MaxLeases <= MaxLeases, "max_leases", ruleMaxLeases)
	return c.result()
}

// FrameRendered is a node's report of a rendered frame, signed over
// ProofMessage.
type FrameRendered struct {
	JobID      string          `json:"job_id"`
	Frame      uint32          `json:"frame"`
	NodeID     string          `json:"node_id"`
	OutputHash string          `json:"output_hash"` // lowercase hex sha256 of the output bytes
	DurationMS uint64          `json:"duration_ms"`
	Telemetry  json.RawMessage `json:"telemetry"` // any JSON object, kept raw
	Signature  string          `json:"signature"` // base58 ed25519 over ProofMessage
}

// EventType implements Event.
func (*FrameRendered) EventType() string { return TypeFrameRendered }

// frameRenderedFields are FrameRendered's members in catalogue order.
var frameRenderedFields = fieldsOf(
	required("job_id", func(d *decoder, e *FrameRendered, v jsonValue) { e.JobID = d.str(v) }),
	required("frame", func(d *decoder, e *FrameRendered, v jsonValue) { e.Frame = d.uint32(v, MaxFrames-1, ruleFrame) }),
	required("node_id", func(d *decoder, e *FrameRendered, v jsonValue) { e.NodeID = d.str(v) }),
	required("output_hash", func(d *decoder, e *FrameRendered, v jsonValue) { e.OutputHash = d.str(v) }),
	required("duration_ms", func(d *decoder, e *FrameRendered, v jsonValue) { e.DurationMS = d.uint(v) }),
	required("telemetry", func(d *decoder, e *FrameRendered, v jsonValue) {
		if v.kind != kindObject {
			d.fail(ruleObject)
		}
		if d.borrow {
			e.Telemetry = v.raw
		} else {
			e.Telemetry = bytes.Clone(v.raw)
		}
	}),
	required("signature", func(d *decoder, e *FrameRendered, v jsonValue) { e.Signature = d.str(v) }),
)

// Validate checks the stateless rules of FrameRendered; the signature's
// format only (verifying it needs the node's key).
func (e *FrameRendered) Validate() error {
	c := checker{event: TypeFrameRendered}
	c.id("job_id", e.JobID)
	c.frame(e.Frame)
	c.id("node_id", e.NodeID)
	c.hash("output_hash", e.OutputHash)
	c.duration(e.DurationMS)
	if c.err == nil {
		_, err := forEachMember(e.Telemetry, nil)
		c.check(err == nil, "telemetry", ruleObject)
	}
	c.check(validBase58N(e.Signature, 64), "signature", ruleSignature)
	return c.result()
}

// ProofMessage returns the canonical message the node signed.
func (e *FrameRendered) ProofMessage() []byte {
	return ProofMessage(e.JobID, e.Frame, e.NodeID, e.OutputHash, e.DurationMS)
}

// FrameAccepted accepts a rendered frame: the work event of rendering.
type FrameAccepted struct {
	JobID  string `json:"job_id"`
	Frame  uint32 `json:"frame"`
	NodeID string `json:"node_id"`
}

// EventType implements Event.
func (*FrameAccepted) EventType() string { return TypeFrameAccepted }

// frameAcceptedFields are FrameAccepted's members in catalogue order.
var frameAcceptedFields = fieldsOf(
	required("job_id", func(d *decoder, e *FrameAccepted, v jsonValue) { e.JobID = d.str(v) }),
	required("frame", func(d *decoder, e *FrameAccepted, v jsonValue) { e.Frame = d.uint32(v, MaxFrames-1, ruleFrame) }),
	required("node_id", func(d *decoder, e *FrameAccepted, v jsonValue) { e.NodeID = d.str(v) }),
)

// Validate checks the stateless rules of FrameAccepted.
func (e *FrameAccepted) Validate() error {
	c := checker{event: TypeFrameAccepted}
	c.id("job_id", e.JobID)
	c.frame(e.Frame)
	c.id("node_id", e.NodeID)
	return c.result()
}

// FrameRejected rejects a rendered frame; it earns nothing.
type FrameRejected struct {
	JobID  string `json:"job_id"`
	Frame  uint32 `json:"frame"`
	NodeID string `json:"node_id"`
	Reason string `json:"reason"`
}

// EventType implements Event.
func (*FrameRejected) EventType() string { return TypeFrameRejected }

// frameRejectedFields are FrameRejected's members in catalogue order.
var frameRejectedFields = fieldsOf(
	required("job_id", func(d *decoder, e *FrameRejected, v jsonValue) { e.JobID = d.str(v) }),
	required("frame", func(d *decoder, e *FrameRejected, v jsonValue) { e.Frame = d.uint32(v, MaxFrames-1, ruleFrame) }),
	required("node_id", func(d *decoder, e *FrameRejected, v jsonValue) { e.NodeID = d.str(v) }),
	required("reason", func(d *decoder, e *FrameRejected, v jsonValue) { e.Reason = d.str(v) }),
)

// Validate checks the stateless rules of FrameRejected.
func (e *FrameRejected) Validate() error {
	c := checker{event: TypeFrameRejected}
	c.id("job_id", e.JobID)
	c.frame(e.Frame)
	c.id("node_id", e.NodeID)
	c.check(validText(e.Reason), "reason", ruleText)
	return c.result()
}

// ComputeWorkCompleted is compute-client (AI) work done by a node, worth
// the usd its client attests: Client is the client_id of a
// ComputeClientRegistered, and ClientSignature that client's signature
// over ClientMessage (optional in logs without any registered client; see
// ComputeClientRegistered).
type ComputeWorkCompleted struct {
	TaskID          string `json:"task_id"`
	NodeID          string `json:"node_id"`
	Client          string `json:"client"`
	DurationMS      uint64 `json:"duration_ms"`
	USD             USD    `json:"usd"`
	OutputHash      string `json:"output_hash"`
	Signature       string `json:"signature"`                  // the node's, base58 ed25519 over ComputeProofMessage
	ClientSignature string `json:"client_signature,omitempty"` // the client's, base58 ed25519 over ComputeClientMessage
}

// EventType implements Event.
func (*ComputeWorkCompleted) EventType() string { return TypeComputeWorkCompleted }

// computeWorkCompletedFields are ComputeWorkCompleted's members in catalogue order.
var computeWorkCompletedFields = fieldsOf(
	required("task_id", func(d *decoder, e *ComputeWorkCompleted, v jsonValue) { e.TaskID = d.str(v) }),
	required("node_id", func(d *decoder, e *ComputeWorkCompleted, v jsonValue) { e.NodeID = d.str(v) }),
	required("client", func(d *decoder, e *ComputeWorkCompleted, v jsonValue) { e.Client = d.str(v) }),
	required("duration_ms", func(d *decoder, e *ComputeWorkCompleted, v jsonValue) { e.DurationMS = d.uint(v) }),
	required("usd", func(d *decoder, e *ComputeWorkCompleted, v jsonValue) { e.USD = d.usd(v) }),
	required("output_hash", func(d *decoder, e *ComputeWorkCompleted, v jsonValue) { e.OutputHash = d.str(v) }),
	required("signature", func(d *decoder, e *ComputeWorkCompleted, v jsonValue) { e.Signature = d.str(v) }),
	optional("client_signature", func(d *decoder, e *ComputeWorkCompleted, v jsonValue) { e.ClientSignature = d.str(v) }),
)

// Validate checks the stateless rules of ComputeWorkCompleted.
func (e *ComputeWorkCompleted) Validate() error {
	c := checker{event: TypeComputeWorkCompleted}
	c.id("task_id", e.TaskID)
	c.id("node_id", e.NodeID)
	c.id("client", e.Client)
	c.duration(e.DurationMS)
	c.hash("output_hash", e.OutputHash)
	c.check(validBase58N(e.Signature, 64), "signature", ruleSignature)
	c.check(e.ClientSignature == "" || validBase58N(e.ClientSignature, 64), "client_signature", ruleSignature)
	return c.result()
}

// ProofMessage returns the canonical message the node signed.
func (e *ComputeWorkCompleted) ProofMessage() []byte {
	return ComputeProofMessage(e.TaskID, e.NodeID, e.Client, e.OutputHash, e.DurationMS, e.USD)
}

// JobCompleted records a job's Proof of Render: the Merkle root of the
// output hashes of its accepted frames (see ProvenanceLeaf).
type JobCompleted struct {
	JobID          string `json:"job_id"`
	ProvenanceRoot string `json:"provenance_root"`
}

// EventType implements Event.
func (*JobCompleted) EventType() string { return TypeJobCompleted }

// jobCompletedFields are JobCompleted's members in catalogue order.
var jobCompletedFields = fieldsOf(
	required("job_id", func(d *decoder, e *JobCompleted, v jsonValue) { e.JobID = d.str(v) }),
	required("provenance_root", func(d *decoder, e *JobCompleted, v jsonValue) { e.ProvenanceRoot = d.str(v) }),
)

// Validate checks the stateless rules of JobCompleted.
func (e *JobCompleted) Validate() error {
	c := checker{event: TypeJobCompleted}
	c.id("job_id", e.JobID)
	c.check(validHash(e.ProvenanceRoot), "provenance_root", ruleRoot)
	return c.result()
}

// BurnRecorded is the RENDER burned for a job's payment.
type BurnRecorded struct {
	JobID          string    `json:"job_id"`
	USD            USD       `json:"usd"`
	RenderUSDPrice USD       `json:"render_usd_price"`
	Burned         BaseUnits `json:"burned"`
	TxSignature    string    `json:"tx_signature"`
}

// EventType implements Event.
func (*BurnRecorded) EventType() string { return TypeBurnRecorded }

// burnRecordedFields are BurnRecorded's members in catalogue order.
var burnRecordedFields = fieldsOf(
	required("job_id", func(d *decoder, e *BurnRecorded, v jsonValue) { e.JobID = d.str(v) }),
	required("usd", func(d *decoder, e *BurnRecorded, v jsonValue) { e.USD = d.usd(v) }),
	required("render_usd_price", func(d *decoder, e *BurnRecorded, v jsonValue) { e.RenderUSDPrice = d.usd(v) }),
	required("burned", func(d *decoder, e *BurnRecorded, v jsonValue) { e.Burned = d.baseUnits(v) }),
	required("tx_signature", func(d *decoder, e *BurnRecorded, v jsonValue) { e.TxSignature = d.str(v) }),
)

// Validate checks the stateless rules of BurnRecorded, burned =
// ceil(usd × 10^8 / render_usd_price) included.
func (e *BurnRecorded) Validate() error {
	c := checker{event: TypeBurnRecorded}
	c.id("job_id", e.JobID)
	c.check(!e.RenderUSDPrice.IsZero(), "render_usd_price", rulePositive)
	if c.err == nil {
		want, err := BurnedBaseUnits(e.USD, e.RenderUSDPrice)
		switch {
		case err != nil:
			c.fail("burned", "ceil(usd × 10^8 / render_usd_price) exceeds the range of base units")
		case want != e.Burned:
			c.fail("burned", "must equal ceil(usd × 10^8 / render_usd_price) = "+want.String()+" base units")
		}
	}
	c.txsig("tx_signature", e.TxSignature)
	return c.result()
}

// EpochClosed closes an epoch with its emission and, optionally, the
// amount of each reward channel (emission = their sum). Without channels
// the whole emission is the job channel (logs written before channels).
type EpochClosed struct {
	Epoch    uint64               `json:"epoch"`
	Emission BaseUnits            `json:"emission"`
	Channels map[string]BaseUnits `json:"channels,omitempty"`
}

// EventType implements Event.
func (*EpochClosed) EventType() string { return TypeEpochClosed }

// epochClosedFields are EpochClosed's members in catalogue order.
var epochClosedFields = fieldsOf(
	required("epoch", func(d *decoder, e *EpochClosed, v jsonValue) { e.Epoch = d.uint(v) }),
	required("emission", func(d *decoder, e *EpochClosed, v jsonValue) { e.Emission = d.baseUnits(v) }),
	optional("channels", func(d *decoder, e *EpochClosed, v jsonValue) { e.Channels = d.channels(v, d.baseUnits) }),
)

// Validate checks the stateless rules of EpochClosed. That epochs close in
// order needs the log: the command layer checks it.
func (e *EpochClosed) Validate() error {
	c := checker{event: TypeEpochClosed}
	c.epoch(e.Epoch)
	if c.err == nil {
		c.epochChannels(e.Emission, e.Channels)
	}
	return c.result()
}

// ChannelAmounts returns the epoch's channels: Channels, or job = emission
// when it has none.
func (e *EpochClosed) ChannelAmounts() map[string]BaseUnits {
	if e.Channels != nil {
		return e.Channels
	}
	return map[string]BaseUnits{ChannelJob: e.Emission}
}

// BridgeConverted records RNDR (ERC-20, 18 decimals) bridged to RENDER (8
// decimals); the truncated remainder is dust.
type BridgeConverted struct {
	EthTx      string    `json:"eth_tx"`
	LogIndex   uint64    `json:"log_index"`
	EthAddress string    `json:"eth_address"`
	RNDRWei    string    `json:"rndr_wei"` // decimal integer, may exceed uint64
	Render     BaseUnits `json:"render"`
}

// EventType implements Event.
func (*BridgeConverted) EventType() string { return TypeBridgeConverted }

// bridgeConvertedFields are BridgeConverted's members in catalogue order.
var bridgeConvertedFields = fieldsOf(
	required("eth_tx", func(d *decoder, e *BridgeConverted, v jsonValue) { e.EthTx = d.str(v) }),
	required("log_index", func(d *decoder, e *BridgeConverted, v jsonValue) { e.LogIndex = d.uint(v) }),
	required("eth_address", func(d *decoder, e *BridgeConverted, v jsonValue) { e.EthAddress = d.str(v) }),
	required("rndr_wei", func(d *decoder, e *BridgeConverted, v jsonValue) {
		switch v.kind {
		case kindString:
			e.RNDRWei = stringValue(v)
		case kindNumber:
			e.RNDRWei = string(v.raw) // checked by Validate: digits only
		default:
			d.fail(ruleWei)
		}
	}),
	required("render", func(d *decoder, e *BridgeConverted, v jsonValue) { e.Render = d.baseUnits(v) }),
)

// Validate checks the stateless rules of BridgeConverted, render =
// floor(rndr_wei / 10^10) included.
func (e *BridgeConverted) Validate() error {
	c := checker{event: TypeBridgeConverted}
	c.check(validEthHex(e.EthTx, 64), "eth_tx", ruleEthTx)
	c.check(validEthHex(e.EthAddress, 40), "eth_address", ruleEthAddress)
	c.check(validWei(e.RNDRWei), "rndr_wei", ruleWei)
	if c.err == nil {
		want, ok := BridgeRender(e.Wei())
		switch {
		case !ok:
			c.fail("render", "floor(rndr_wei / 10^10) exceeds the range of base units")
		case want != e.Render:
			c.fail("render", "must equal floor(rndr_wei / 10^10) = "+want.String()+" base units")
		}
	}
	return c.result()
}

var weiPerBaseUnit = big.NewInt(10_000_000_000)

// Wei returns rndr_wei as an integer (zero if it is not valid).
func (e *BridgeConverted) Wei() *big.Int {
	w, ok := new(big.Int).SetString(e.RNDRWei, 10)
	if !ok {
		return new(big.Int)
	}
	return w
}

// Dust returns the wei lost to truncation: rndr_wei mod 10^10.
func (e *BridgeConverted) Dust() *big.Int {
	w := e.Wei()
	return w.Mod(w, weiPerBaseUnit)
}

// Key returns the idempotency key of the conversion, (eth_tx, log_index),
// with the hash lowercased so that spellings of one transaction agree.
func (e *BridgeConverted) Key() string {
	b := make([]byte, 0, len(e.EthTx)+21)
	for i := 0; i < len(e.EthTx); i++ {
		c := e.EthTx[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	b = append(b, ':')
	return string(strconv.AppendUint(b, e.LogIndex, 10))
}

// BridgeRender returns floor(wei / 10^10), the base units a conversion of
// wei yields, and false if that exceeds uint64.
func BridgeRender(wei *big.Int) (BaseUnits, bool) {
	q := new(big.Int).Quo(wei, weiPerBaseUnit)
	if q.Sign() < 0 || !q.IsUint64() {
		return 0, false
	}
	return BaseUnits(q.Uint64()), true
}

// SettlementPlanned is the payout list of an epoch's settlement and the
// Merkle root over its leaves (PayoutLeaf, in operator_id order).
//
// A plan too large for one event (MaxDataLen) is split into Parts events,
// appended together in one atomic append: each carries Part (1..Parts), the
// whole plan's Root and Total, and the next run of payouts in operator_id
// order. Root and Total can then only be checked against the whole list,
// which the ledger does when it folds the last part. A plan of one event
// leaves Part and Parts out.
type SettlementPlanned struct {
	Epoch   uint64    `json:"epoch"`
	Root    string    `json:"root"`  // lowercase hex
	Total   BaseUnits `json:"total"` // sum of the amounts
	Payouts []Payout  `json:"payouts"`
	Part    uint64    `json:"part,omitempty"`  // 1-based; optional
	Parts   uint64    `json:"parts,omitempty"` // ≥ 2 when set; optional
	// LogHead is the chain hash (lowercase hex) of the log's head when the
	// plan was made (the hash verify prints for the backend); the memo of
	// the batch's first v0 transaction carries it, anchoring the log on
	// chain. Optional: plans recorded before it stay valid.
	LogHead string `json:"log_head,omitempty"`
}

// EventType implements Event.
func (*SettlementPlanned) EventType() string { return TypeSettlementPlanned }

// settlementPlannedFields are SettlementPlanned's members in catalogue order.
var settlementPlannedFields = fieldsOf(
	required("epoch", func(d *decoder, e *SettlementPlanned, v jsonValue) { e.Epoch = d.uint(v) }),
	required("root", func(d *decoder, e *SettlementPlanned, v jsonValue) { e.Root = d.str(v) }),
	required("total", func(d *decoder, e *SettlementPlanned, v jsonValue) { e.Total = d.baseUnits(v) }),
	required("payouts", func(d *decoder, e *SettlementPlanned, v jsonValue) {
		e.Payouts = []Payout{} // present, possibly empty
		d.elements(v, func(_ int, el jsonValue) {
			e.Payouts = append(e.Payouts, Payout{})
			decodeNested(d, el, payoutFields, &e.Payouts[len(e.Payouts)-1])
		})
	}),
	optional("part", func(d *decoder, e *SettlementPlanned, v jsonValue) { e.Part = d.uint(v) }),
	optional("parts", func(d *decoder, e *SettlementPlanned, v jsonValue) { e.Parts = d.uint(v) }),
	optional("log_head", func(d *decoder, e *SettlementPlanned, v jsonValue) { e.LogHead = d.str(v) }),
)

// Validate checks the stateless rules of SettlementPlanned: payouts sorted
// by operator_id without repeats, amounts > 0, total = Σ amount, and root =
// the Merkle root of the payout leaves.
func (e *SettlementPlanned) Validate() error {
	c := checker{event: TypeSettlementPlanned}
	c.epoch(e.Epoch)
	c.check(validHash(e.Root), "root", ruleRoot)
	c.check(e.LogHead == "" || validHash(e.LogHead), "log_head", ruleLogHead)
	if e.MultiPart() {
		c.check(e.Parts >= 2, "parts", "must be at least 2 when a plan is split (leave part and parts out for one event)")
		c.check(e.Part >= 1 && e.Part <= e.Parts, "part", "must be between 1 and parts")
	}
	if c.err != nil {
		return c.result()
	}
	var sum BaseUnits
	overflow := false
	for i := range e.Payouts {
		p := &e.Payouts[i]
		switch {
		case !validID(p.OperatorID):
			c.fail(elemField("payouts", i, "operator_id"), ruleID)
		case !validBase58N(p.Wallet, 32):
			c.fail(elemField("payouts", i, "wallet"), ruleWallet)
		case p.Amount == 0:
			c.fail(elemField("payouts", i, "amount"), rulePositive)
		case i > 0 && e.Payouts[i-1].OperatorID >= p.OperatorID:
			c.fail(elemField("payouts", i, "operator_id"), "payouts must be sorted by operator_id (byte order) without repeats")
		}
		for j, ep := range p.Epochs {
			if ep < 1 || ep > e.Epoch || (j > 0 && ep <= p.Epochs[j-1]) {
				c.fail(elemField("payouts", i, "epochs"),
					"must list distinct epochs from 1 to "+strconv.FormatUint(e.Epoch, 10)+" in ascending order")
				break
			}
		}
		if c.err != nil {
			return c.result()
		}
		var ok bool
		sum, ok = AddBaseUnits(sum, p.Amount)
		overflow = overflow || !ok
	}
	switch {
	case overflow:
		c.fail("total", "the sum of payout amounts exceeds the range of base units")
	case e.MultiPart():
		// Total and root cover every part: the ledger checks them.
		return c.result()
	case sum != e.Total:
		c.fail("total", "must equal the sum of payout amounts = "+sum.String()+" base units")
	}
	if c.err == nil {
		root, _ := PlanRoot(e.Epoch, e.Payouts)
		if h := HashHex(root); h != e.Root {
			c.fail("root", "must equal the Merkle root of the payout leaves = "+h)
		}
	}
	return c.result()
}

// MultiPart reports whether the event is one part of a plan split over
// several events.
func (e *SettlementPlanned) MultiPart() bool { return e.Parts != 0 || e.Part != 0 }

// Payout is one operator's line of a settlement plan.
type Payout struct {
	OperatorID string    `json:"operator_id"`
	Wallet     string    `json:"wallet"`
	Amount     BaseUnits `json:"amount"`
	// Epochs lists the epochs whose owed amounts this payout covers
	// (ascending); it may be omitted.
	Epochs []uint64 `json:"epochs,omitempty"`
}

// payoutFields are Payout's members in catalogue order.
var payoutFields = fieldsOf(
	required("operator_id", func(d *decoder, e *Payout, v jsonValue) { e.OperatorID = d.str(v) }),
	required("wallet", func(d *decoder, e *Payout, v jsonValue) { e.Wallet = d.str(v) }),
	required("amount", func(d *decoder, e *Payout, v jsonValue) { e.Amount = d.baseUnits(v) }),
	optional("epochs", func(d *decoder, e *Payout, v jsonValue) {
		d.elements(v, func(_ int, x jsonValue) { e.Epochs = append(e.Epochs, d.uint(x)) })
	}),
)

// PayoutSubmitted records a payout transaction before it is sent.
type PayoutSubmitted struct {
	Epoch                uint64      `json:"epoch"`
	Signature            string      `json:"signature"` // base58 64-byte transaction signature
	Recipients           []Recipient `json:"recipients"`
	Blockhash            string      `json:"blockhash"` // base58 32 bytes
	LastValidBlockHeight uint64      `json:"last_valid_block_height"`
	// Transaction is the signed transaction in wire format (base64), kept
	// so that a restarted submit can re-send the very same bytes while the
	// blockhash is valid; optional. Its first signature is Signature.
	Transaction string `json:"transaction,omitempty"`
	// LookupTables names the address lookup tables a v0 transaction
	// resolves accounts through, and LoadedAddresses the accounts it
	// resolved from them when it was built: so payees stay verifiable after
	// a table is extended or closed. Both absent for a legacy transaction.
	LookupTables    []string         `json:"lookup_tables,omitempty"`
	LoadedAddresses *LoadedAddresses `json:"loaded_addresses,omitempty"`
}

// EventType implements Event.
func (*PayoutSubmitted) EventType() string { return TypePayoutSubmitted }

// payoutSubmittedFields are PayoutSubmitted's members in catalogue order.
var payoutSubmittedFields = fieldsOf(
	required("epoch", func(d *decoder, e *PayoutSubmitted, v jsonValue) { e.Epoch = d.uint(v) }),
	required("signature", func(d *decoder, e *PayoutSubmitted, v jsonValue) { e.Signature = d.str(v) }),
	required("recipients", func(d *decoder, e *PayoutSubmitted, v jsonValue) {
		e.Recipients = []Recipient{}
		d.elements(v, func(_ int, el jsonValue) {
			e.Recipients = append(e.Recipients, Recipient{})
			decodeNested(d, el, recipientFields, &e.Recipients[len(e.Recipients)-1])
		})
	}),
	required("blockhash", func(d *decoder, e *PayoutSubmitted, v jsonValue) { e.Blockhash = d.str(v) }),
	required("last_valid_block_height", func(d *decoder, e *PayoutSubmitted, v jsonValue) { e.LastValidBlockHeight = d.uint(v) }),
	optional("transaction", func(d *decoder, e *PayoutSubmitted, v jsonValue) { e.Transaction = d.str(v) }),
	optional("lookup_tables", func(d *decoder, e *PayoutSubmitted, v jsonValue) { e.LookupTables = d.strs(v) }),
	optional("loaded_addresses", func(d *decoder, e *PayoutSubmitted, v jsonValue) { e.LoadedAddresses = d.loadedAddresses(v) }),
)

// Validate checks the stateless rules of PayoutSubmitted.
func (e *PayoutSubmitted) Validate() error {
	c := checker{event: TypePayoutSubmitted}
	c.epoch(e.Epoch)
	c.txsig("signature", e.Signature)
	c.check(len(e.Recipients) > 0, "recipients", "must list at least one recipient")
	if c.err != nil {
		return c.result()
	}
	seen := make(map[string]struct{}, len(e.Recipients))
	for i := range e.Recipients {
		r := &e.Recipients[i]
		_, dup := seen[r.OperatorID]
		seen[r.OperatorID] = struct{}{}
		switch {
		case !validID(r.OperatorID):
			c.fail(elemField("recipients", i, "operator_id"), ruleID)
		case dup:
			c.fail(elemField("recipients", i, "operator_id"), "an operator may appear once per transaction")
		case !validBase58N(r.Wallet, 32):
			c.fail(elemField("recipients", i, "wallet"), ruleWallet)
		case r.Amount == 0:
			c.fail(elemField("recipients", i, "amount"), rulePositive)
		}
		if c.err != nil {
			return c.result()
		}
	}
	c.check(validBase58N(e.Blockhash, 32), "blockhash", ruleBlockhash)
	if e.Transaction != "" && c.err == nil {
		c.check(txFirstSignature(e.Transaction) == e.Signature, "transaction",
			"must be base64 of a signed Solana transaction of at most 1232 bytes whose first signature is signature")
	}
	c.checkLookups(e.LookupTables, e.LoadedAddresses)
	return c.result()
}

// txFirstSignature returns the base58 first signature of a base64 wire
// transaction, or "" if it is not one: compact-u16 signature count ≥ 1,
// then 64-byte signatures, at most MaxTransactionSize bytes in all.
func txFirstSignature(b64 string) string {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) > MaxTransactionSize || len(raw) < 1+64 || raw[0] == 0 || raw[0]&0x80 != 0 {
		return ""
	}
	return base58.Encode(raw[1:65])
}

// MaxTransactionSize is the byte limit of a Solana transaction (the packet
// size, 1,232 bytes).
const MaxTransactionSize = 1232

// Recipient is one transfer of a payout transaction.
type Recipient struct {
	OperatorID string    `json:"operator_id"`
	Wallet     string    `json:"wallet"`
	Amount     BaseUnits `json:"amount"`
}

// recipientFields are Recipient's members in catalogue order.
var recipientFields = fieldsOf(
	required("operator_id", func(d *decoder, e *Recipient, v jsonValue) { e.OperatorID = d.str(v) }),
	required("wallet", func(d *decoder, e *Recipient, v jsonValue) { e.Wallet = d.str(v) }),
	required("amount", func(d *decoder, e *Recipient, v jsonValue) { e.Amount = d.baseUnits(v) }),
)

// PayoutConfirmed records a finalized payout transaction.
type PayoutConfirmed struct {
	Epoch     uint64 `json:"epoch"`
	Signature string `json:"signature"`
	Slot      uint64 `json:"slot"`
}

// EventType implements Event.
func (*PayoutConfirmed) EventType() string { return TypePayoutConfirmed }

// payoutConfirmedFields are PayoutConfirmed's members in catalogue order.
var payoutConfirmedFields = fieldsOf(
	required("epoch", func(d *decoder, e *PayoutConfirmed, v jsonValue) { e.Epoch = d.uint(v) }),
	required("signature", func(d *decoder, e *PayoutConfirmed, v jsonValue) { e.Signature = d.str(v) }),
	required("slot", func(d *decoder, e *PayoutConfirmed, v jsonValue) { e.Slot = d.uint(v) }),
)

// Validate checks the stateless rules of PayoutConfirmed.
func (e *PayoutConfirmed) Validate() error {
	c := checker{event: TypePayoutConfirmed}
	c.epoch(e.Epoch)
	c.txsig("signature", e.Signature)
	return c.result()
}

// PayoutExpired records a payout transaction whose blockhash expired
// without the signature landing; its recipients may be planned again.
type PayoutExpired struct {
	Epoch     uint64 `json:"epoch"`
	Signature string `json:"signature"`
}

// EventType implements Event.
func (*PayoutExpired) EventType() string { return TypePayoutExpired }

// payoutExpiredFields are PayoutExpired's members in catalogue order.
var payoutExpiredFields = fieldsOf(
	required("epoch", func(d *decoder, e *PayoutExpired, v jsonValue) { e.Epoch = d.uint(v) }),
	required("signature", func(d *decoder, e *PayoutExpired, v jsonValue) { e.Signature = d.str(v) }),
)

// Validate checks the stateless rules of PayoutExpired.
func (e *PayoutExpired) Validate() error {
	c := checker{event: TypePayoutExpired}
	c.epoch(e.Epoch)
	c.txsig("signature", e.Signature)
	return c.result()
}
