// Package domain holds the rules of epochledger that need no I/O: the event
// catalogue and its strict JSON form, the stateless validation of events,
// exact units, work and value, the allocation of an epoch's emission, proof
// messages, epochs and Merkle trees. It imports nothing else of the module.
//
// # Envelopes and events
//
// An event travels in an Envelope, one line of JSON Lines:
//
//	{"position":7,"revision":0,"id":"<uuid>","type":"FrameAccepted","stream":"job-j1","time":"2024-01-02T03:04:05Z","data":{…}}
//
// ParseEnvelope reads a line strictly (unknown or repeated members, invalid
// UTF-8 and malformed JSON are refused) and keeps data byte for byte;
// AppendJSON writes the canonical line. DecodeEvent turns data into one of
// the event structs (*NodeRegistered, *FrameAccepted, …), refusing unknown,
// repeated and missing fields, then applies the event's Validate rules.
// Each event's struct, its field table (each member's name, whether it is
// optional, and how its value is decoded, built once with fieldsOf) and
// its Validate sit together; decode.go holds only the machinery that
// drives the tables. A
// refusal is a *ValidationError naming the event, the field and the rule:
//
//	FrameRendered: field "output_hash": must be 64 lowercase hex characters (sha256)
//
// Rules that need state (a node_id registered twice, a frame outside its
// job, epochs closing out of order, a signature checked against the node's
// key) belong to the command layer; this package gives it VerifySig (and VerifyProof
// for a base58 key), the
// canonical messages and the one rule for signing keys
// (CheckKeyRegistration: on the curve, canonical, not of small order, one
// holder per key), used by import and serve alike.
//
// # Units — exact, never floating point
//
//   - RENDER: BaseUnits, uint64, 1 RENDER = 10^8 base units. JSON: a string
//     of digits ("4700000000000"); a JSON integer is accepted.
//   - ob_score: OBScore, uint64 hundredths ("860.5" = 86050), > 0.
//   - USD amounts (usd, usd_per_obh, render_usd_price): USD, a 128-bit count
//     of 10^-18 USD. JSON: a decimal string; a JSON number is accepted and
//     parsed from its text, never through float64.
//   - Work: a frame's work is ob_hundredths × duration_ms work units;
//     OBh = units / WorkDenominator (360,000,000), which is
//     ob_score × duration_ms / 3,600,000.
//   - Value: what emissions are split by. A frame is worth work_obh ×
//     usd_per_obh of its job, compute work its usd. Both are integers in value
//     units, USD = units / ValueDenominator() (3,600,000 × 100 × 10^18):
//     FrameValue = ob_hundredths × duration_ms × usd_per_obh_atto,
//     ComputeValue = usd_atto × 360,000,000. Sums are kept exactly (Sum,
//     big.Int); output rounds half-even to 9 decimals (FormatRat9).
//   - Supply: the emissions of all epochs together are at most a
//     total-supply cap (MaxSupply by default, 644,168,762 RENDER), which
//     keeps every sum of base units below 2^64.
//   - Burn: burned = ceil(usd × 10^8 / render_usd_price) base units
//     (BurnedBaseUnits): the network never under-burns.
//   - Bridge: RNDR (18 decimals) → RENDER (8) truncates:
//     render = floor(rndr_wei / 10^10), the rest is dust.
//
// # Allocation
//
// Allocate splits an epoch's emission E by work value: a_i = floor(E·w_i/W),
// then the remainder one base unit each to the largest (E·w_i) mod W, ties by
// operator_id ascending. Σ a_i = E exactly, or nothing is allocated when
// W = 0.
//
// # Reward channels
//
// An epoch pays through channels (ChannelJob, ChannelAvailability): an
// EmissionScheduleSet sets their amounts from an epoch on, EpochClosed
// records them (none: job = emission, as before channels), NodeRegistered
// may carry vram_gb. The job channel is split by Allocate; the
// availability channel by AvailabilityPoints over the epoch's
// NodeAvailability records (RNP-015 made exact: idle × (3·ratio(ob) +
// 3·ratio(vram) + ratio(age)), ratio(x, m) = max(0, ln x / ln m) or 1 when
// m ≤ 1, the centralisation penalty exp(−0.65·(k−3)) beyond an operator's
// third node; ln and exp at 320 bits, points = floor(… × 10^18)), then
// AllocateAvailability splits the amount over the operators' points with
// Allocate's largest-remainder rule.
//
// # Proofs, epochs, Merkle trees
//
// A node signs ProofMessage (rendered frames) or ComputeProofMessage
// (compute work) with its ed25519 key; a registered compute client
// (ComputeClientRegistered) attests compute work by signing
// ComputeClientMessage, which sets what the work is worth within the
// client's caps (see ComputeClientRegistered and docs/events.md). Epochs are defined by the log
// (EpochClosed events); EpochAt only drives the clock that closes them.
// MerkleRoot builds settlement roots (leaves PayoutLeaf, sorted by
// operator_id) and provenance roots (leaves ProvenanceLeaf, frame order)
// with inner nodes sha256(0x01 || left || right) and odd nodes promoted;
// every payout transaction of a plan carries the plan's root in its memo
// (Memo, MemoV0, MemoV0Anchor; read back by ParseMemo).
package domain
