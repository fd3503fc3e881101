package domain

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mr-tron/base58"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goldenData returns the data object of each event type in the golden log.
func goldenData(t testing.TB) map[string]map[string]json.RawMessage {
	t.Helper()
	out := map[string]map[string]json.RawMessage{}
	for _, line := range goldenLines(t) {
		env, err := ParseEnvelope(line)
		require.NoError(t, err)
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(env.Data, &m))
		out[env.Type] = m
	}
	return out
}

func b58(n int, fill byte) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = fill + byte(i)
	}
	return base58.Encode(b)
}

const del = "<delete>"

// TestEventRules runs one table of mutations of the golden events, each
// breaking (or exercising) one rule, and checks the error's event, field
// and rule.
func TestEventRules(t *testing.T) {
	base := goldenData(t)
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	long := strings.Repeat("a", 129)
	ok := ""
	tests := []struct {
		typ, field, value   string // value: raw JSON, or del
		wantField, wantRule string // wantRule "" with wantField "" means valid
	}{
		// ids
		{TypeNodeRegistered, "node_id", `""`, "node_id", ruleID},
		{TypeNodeRegistered, "node_id", `"a b"`, "node_id", ruleID},
		{TypeNodeRegistered, "node_id", `"a\u00a0b"`, "node_id", ruleID},
		{TypeNodeRegistered, "node_id", `"a\nb"`, "node_id", ruleID},
		{TypeNodeRegistered, "node_id", q(long), "node_id", ruleID},
		{TypeNodeRegistered, "node_id", q(long[:128]), ok, ok},
		{TypeNodeRegistered, "node_id", `"nœud-é"`, ok, ok},
		{TypeNodeRegistered, "operator_id", `5`, "operator_id", ruleString},
		{TypeNodeRegistered, "operator_id", `null`, "operator_id", ruleString},
		{TypeNodeRegistered, "operator_id", del, "operator_id", ruleRequired},
		{TypeNodeRegistered, "nodeid", `"x"`, "nodeid", ruleUnknown},
		{TypeJobSubmitted, "artist", `"x\u0000"`, "artist", ruleID},
		{TypeComputeWorkCompleted, "client", `"io net"`, "client", ruleID},
		{TypeComputeWorkCompleted, "task_id", `""`, "task_id", ruleID},
		// keys
		{TypeNodeRegistered, "node_pubkey", `"abc"`, "node_pubkey", rulePubkey},
		{TypeNodeRegistered, "node_pubkey", q(b58(31, 1)), "node_pubkey", rulePubkey},
		{TypeNodeRegistered, "node_pubkey", q(b58(33, 1)), "node_pubkey", rulePubkey},
		{TypeNodeRegistered, "node_pubkey", `"0OIl0OIl0OIl0OIl0OIl0OIl0OIl0OIl0OIl0OIl0OI"`, "node_pubkey", rulePubkey},
		{TypeNodeRegistered, "node_pubkey", q(b58(32, 0)), ok, ok}, // leading zero byte
		{TypeNodeRegistered, "gpu", `""`, "gpu", ruleText},
		{TypeNodeRegistered, "gpu", `"RTX\t4090"`, "gpu", ruleText},
		{TypeNodeRegistered, "gpu", q(strings.Repeat("g", 1025)), "gpu", ruleText},
		// ob_score
		{TypeNodeRegistered, "ob_score", `"0"`, "ob_score", rulePositive},
		{TypeNodeRegistered, "ob_score", `0.00`, "ob_score", rulePositive},
		{TypeNodeRegistered, "ob_score", `"860.555"`, "ob_score", "must have at most 2 decimal places"},
		{TypeNodeRegistered, "ob_score", `860.555`, "ob_score", "must have at most 2 decimal places"},
		{TypeNodeRegistered, "ob_score", `"-1"`, "ob_score", "must not be negative"},
		{TypeNodeRegistered, "ob_score", `-1`, "ob_score", "must not be negative"},
		{TypeNodeRegistered, "ob_score", `"abc"`, "ob_score", "must be a decimal number"},
		{TypeNodeRegistered, "ob_score", `""`, "ob_score", "must be a decimal number"},
		{TypeNodeRegistered, "ob_score", `" 1"`, "ob_score", "must be a decimal number"},
		{TypeNodeRegistered, "ob_score", `"01"`, "ob_score", "must be a decimal number"},
		{TypeNodeRegistered, "ob_score", `true`, "ob_score", "must be a decimal number"},
		{TypeNodeRegistered, "ob_score", `1e400`, "ob_score", "is too large"},
		{TypeNodeRegistered, "ob_score", `"184467440737095516.16"`, "ob_score", "is too large"},
		{TypeNodeRegistered, "ob_score", `8.6055e2`, ok, ok},
		{TypeNodeRegistered, "ob_score", `"0.01"`, ok, ok},
		// wallets, eth
		{TypeOperatorWalletSet, "wallet", q(b58(31, 7)), "wallet", ruleWallet},
		{TypeOperatorWalletSet, "wallet", q(b58(64, 7)), "wallet", ruleWallet},
		{TypeOperatorWalletSet, "wallet", `""`, "wallet", ruleWallet},
		{TypeOperatorWalletSet, "wallet", q(b58(32, 200)), ok, ok},
		{TypeOperatorWalletSet, "eth_address", `"0x123"`, "eth_address", ruleEthAddress},
		{TypeOperatorWalletSet, "eth_address", `"52908400098527886E0F7030069857D2E4169EE7"`, "eth_address", ruleEthAddress},
		{TypeOperatorWalletSet, "eth_address", `"0x52908400098527886E0F7030069857D2E4169EEG"`, "eth_address", ruleEthAddress},
		{TypeOperatorWalletSet, "eth_address", `null`, ok, ok},
		{TypeOperatorWalletSet, "eth_address", del, ok, ok},
		{TypeBridgeConverted, "eth_tx", `"0x88df"`, "eth_tx", ruleEthTx},
		{TypeBridgeConverted, "eth_address", `"0xabc"`, "eth_address", ruleEthAddress},
		// hashes
		{TypeJobSubmitted, "scene_hash", `"4F48F7207CEBF92638DEBB5694E4A8677350CF88A9E98E73C6C466B6B1D43890"`, "scene_hash", ruleSHA256},
		{TypeJobSubmitted, "scene_hash", `"4f48f7207cebf92638debb5694e4a8677350cf88a9e98e73c6c466b6b1d4389"`, "scene_hash", ruleSHA256},
		{TypeFrameRendered, "output_hash", `"zz"`, "output_hash", ruleSHA256},
		{TypeComputeWorkCompleted, "output_hash", del, "output_hash", ruleRequired},
		{TypeJobCompleted, "provenance_root", `"00"`, "provenance_root", ruleRoot},
		{TypeSettlementPlanned, "root", `"XYZ"`, "root", ruleRoot},
		{TypeSettlementPlanned, "log_head", `"ABCDEF"`, "log_head", ruleLogHead},
		{TypeSettlementPlanned, "log_head", q(strings.Repeat("A", 64)), "log_head", ruleLogHead},
		// frames, frame, duration
		{TypeJobSubmitted, "frames", `0`, "frames", ruleFrames},
		{TypeJobSubmitted, "frames", `1000001`, "frames", ruleFrames},
		{TypeJobSubmitted, "frames", `99999999999999999999999`, "frames", ruleFrames},
		{TypeJobSubmitted, "frames", `-1`, "frames", ruleFrames},
		{TypeJobSubmitted, "frames", `1000000`, ok, ok},
		{TypeJobSubmitted, "frames", `"240"`, "frames", ruleInteger},
		{TypeJobSubmitted, "frames", `240.0`, "frames", ruleInteger},
		{TypeJobSubmitted, "frames", `2.4e2`, "frames", ruleInteger},
		{TypeFrameAssigned, "frame", `1000000`, "frame", ruleFrame},
		{TypeFrameAssigned, "frame", `999999`, ok, ok},
		{TypeFrameAssigned, "frame", `0`, ok, ok},
		{TypeFrameAccepted, "frame", `"7"`, "frame", ruleInteger},
		{TypeFrameAccepted, "node_id", del, "node_id", ruleRequired},
		{TypeFrameRendered, "duration_ms", `0`, "duration_ms", ruleDuration},
		{TypeFrameRendered, "duration_ms", `604800001`, "duration_ms", ruleDuration},
		{TypeFrameRendered, "duration_ms", `604800000`, ok, ok},
		{TypeComputeWorkCompleted, "duration_ms", `-5`, "duration_ms", ruleInteger},
		// lease, telemetry, reason
		{TypeFrameAssigned, "lease_until", `"tomorrow"`, "lease_until", ruleTime},
		{TypeFrameAssigned, "lease_until", `"2024-01-02T03:15:00+01:00"`, ok, ok},
		{TypeFrameAssigned, "max_leases", `4`, ok, ok},
		{TypeFrameAssigned, "max_leases", `65536`, ok, ok},
		{TypeFrameAssigned, "max_leases", `65537`, "max_leases", ruleMaxLeases},
		{TypeFrameAssigned, "max_leases", `"4"`, "max_leases", ruleInteger},
		{TypeFrameAssigned, "max_leases", `null`, ok, ok},
		{TypeFrameRendered, "telemetry", `[]`, "telemetry", ruleObject},
		{TypeFrameRendered, "telemetry", `"{}"`, "telemetry", ruleObject},
		{TypeFrameRendered, "telemetry", `null`, "telemetry", ruleObject},
		{TypeFrameRendered, "telemetry", del, "telemetry", ruleRequired},
		{TypeFrameRendered, "signature", q(b58(32, 1)), "signature", ruleSignature},
		{TypeFrameRejected, "reason", `""`, "reason", ruleText},
		{TypeFrameRejected, "reason", `"a\nb"`, "reason", ruleText},
		// USD amounts
		{TypeJobSubmitted, "usd_per_obh", `"0"`, "usd_per_obh", rulePositive},
		{TypeJobSubmitted, "usd_per_obh", `"0.0000000000000000001"`, "usd_per_obh", "must have at most 18 decimal places"},
		{TypeJobSubmitted, "usd_per_obh", `"0.000000000000000001"`, ok, ok},
		{TypeJobSubmitted, "usd_per_obh", `1E-18`, ok, ok},
		{TypeJobSubmitted, "usd_per_obh", `1.5e-18`, "usd_per_obh", "must have at most 18 decimal places"},
		{TypeJobSubmitted, "usd_per_obh", `[]`, "usd_per_obh", "must be a decimal number"},
		{TypeComputeWorkCompleted, "usd", `"-1"`, "usd", "must not be negative"},
		{TypeComputeWorkCompleted, "usd", `"0"`, ok, ok},
		{TypeComputeWorkCompleted, "usd", `"340282366920938463463.374607431768211456"`, "usd", "is too large"},
		// burns
		{TypeBurnRecorded, "burned", `"13793103448"`, "burned", "must equal ceil(usd × 10^8 / render_usd_price) = 13793103449 base units"},
		{TypeBurnRecorded, "burned", `13793103449`, ok, ok},
		{TypeBurnRecorded, "burned", `"1.5"`, "burned", "must be an integer number of base units"},
		{TypeBurnRecorded, "burned", `1.5`, "burned", "must be an integer number of base units"},
		{TypeBurnRecorded, "burned", `"-1"`, "burned", "must not be negative"},
		{TypeBurnRecorded, "burned", `"013793103449"`, "burned", "without leading zeros"},
		{TypeBurnRecorded, "burned", `"18446744073709551616"`, "burned", "is too large"},
		{TypeBurnRecorded, "burned", `true`, "burned", "must be an integer"},
		{TypeBurnRecorded, "render_usd_price", `"0"`, "render_usd_price", rulePositive},
		{TypeBurnRecorded, "render_usd_price", `7.250`, ok, ok},
		{TypeBurnRecorded, "tx_signature", `"1"`, "tx_signature", ruleTxSignature},
		// epochs and emission
		{TypeEpochClosed, "epoch", `0`, "epoch", ruleEpoch},
		{TypeEpochClosed, "epoch", `"1"`, "epoch", ruleInteger},
		{TypeEpochClosed, "emission", `"4.7"`, "emission", "must be an integer number of base units"},
		{TypeEpochClosed, "emission", `"0"`, ok, ok},
		{TypeEpochClosed, "emission", `18446744073709551615`, ok, ok},
		{TypeEpochClosed, "emission", `18446744073709551616`, "emission", "is too large"},
		{TypePayoutExpired, "epoch", `0`, "epoch", ruleEpoch},
		// bridge
		{TypeBridgeConverted, "render", `"123456789013"`, "render", "must equal floor(rndr_wei / 10^10) = 123456789012 base units"},
		{TypeBridgeConverted, "rndr_wei", `"12.5"`, "rndr_wei", ruleWei},
		{TypeBridgeConverted, "rndr_wei", `"01234567890123456789012"`, "rndr_wei", ruleWei},
		{TypeBridgeConverted, "rndr_wei", q(strings.Repeat("9", 79)), "rndr_wei", ruleWei},
		{TypeBridgeConverted, "rndr_wei", `1234567890123456789012`, ok, ok},
		{TypeBridgeConverted, "rndr_wei", `1.2e3`, "rndr_wei", ruleWei},
		{TypeBridgeConverted, "rndr_wei", `{}`, "rndr_wei", ruleWei},
		{TypeBridgeConverted, "rndr_wei", q("1" + strings.Repeat("0", 30)), "render", "exceeds the range of base units"},
		{TypeBridgeConverted, "log_index", `-1`, "log_index", ruleInteger},
		// settlement
		{TypeSettlementPlanned, "total", `"11"`, "total", "must equal the sum of payout amounts = 10 base units"},
		{TypeSettlementPlanned, "root", q(strings.Repeat("0", 64)), "root", "must equal the Merkle root of the payout leaves = 5ad8edebc0faeaeefc63e717e26cdf717c10f691156b9563190eb069711a46b5"},
		{TypeSettlementPlanned, "payouts", `{}`, "payouts", ruleArray},
		{TypeSettlementPlanned, "payouts", `[1]`, "payouts[0]", ruleObject},
		{TypeSettlementPlanned, "payouts", `[{"operator_id":"op-a","wallet":"BnyQDM7asizk2pgFh44AFYUbsUHnvL98o8c7aEh5Ey48","amount":"3","memo":"x"}]`, "payouts[0].memo", ruleUnknown},
		{TypeSettlementPlanned, "payouts", `[{"operator_id":"op-a","amount":"3"}]`, "payouts[0].wallet", ruleRequired},
		{TypeSettlementPlanned, "payouts", `[{"operator_id":"op-a","wallet":"BnyQDM7asizk2pgFh44AFYUbsUHnvL98o8c7aEh5Ey48","amount":"0"}]`, "payouts[0].amount", rulePositive},
		{TypeSettlementPlanned, "payouts", `[{"operator_id":"op-a","wallet":"BnyQDM7asizk2pgFh44AFYUbsUHnvL98o8c7aEh5Ey48","amount":"3","epochs":["1"]}]`, "payouts[0].epochs[0]", ruleInteger},
		{TypeSettlementPlanned, "payouts", `[{"operator_id":"op-a","wallet":"BnyQDM7asizk2pgFh44AFYUbsUHnvL98o8c7aEh5Ey48","amount":"3","epochs":[2]}]`, "payouts[0].epochs", "must list distinct epochs from 1 to 1 in ascending order"},
		{TypeSettlementPlanned, "payouts", `[{"operator_id":"op-a","wallet":"BnyQDM7asizk2pgFh44AFYUbsUHnvL98o8c7aEh5Ey48","amount":"3","epochs":[0]}]`, "payouts[0].epochs", "must list distinct epochs"},
		{TypeSettlementPlanned, "payouts", `[{"operator_id":"op-b","wallet":"8UUZJeQaViRzLFsKPujL6gdGuvGVKctGmCmxCgLgKoKj","amount":7},{"operator_id":"op-a","wallet":"BnyQDM7asizk2pgFh44AFYUbsUHnvL98o8c7aEh5Ey48","amount":"3"}]`, "payouts[1].operator_id", "sorted by operator_id"},
		{TypeSettlementPlanned, "payouts", `[{"operator_id":"op-a","wallet":"8UUZJeQaViRzLFsKPujL6gdGuvGVKctGmCmxCgLgKoKj","amount":7},{"operator_id":"op-a","wallet":"BnyQDM7asizk2pgFh44AFYUbsUHnvL98o8c7aEh5Ey48","amount":"3"}]`, "payouts[1].operator_id", "without repeats"},
		{TypeSettlementPlanned, "payouts", `[{"operator_id":"op-a","wallet":"x","amount":"3"}]`, "payouts[0].wallet", ruleWallet},
		{TypeSettlementPlanned, "payouts", `[{"operator_id":"op-a","wallet":"BnyQDM7asizk2pgFh44AFYUbsUHnvL98o8c7aEh5Ey48","amount":"3","epochs":null},{"operator_id":"op-b","wallet":"8UUZJeQaViRzLFsKPujL6gdGuvGVKctGmCmxCgLgKoKj","amount":7,"epochs":[]}]`, ok, ok},
		{TypeSettlementPlanned, "payouts", del, "payouts", ruleRequired},
		{TypePayoutSubmitted, "recipients", `[]`, "recipients", "must list at least one recipient"},
		{TypePayoutSubmitted, "recipients", `[{"operator_id":"op-a","wallet":"BnyQDM7asizk2pgFh44AFYUbsUHnvL98o8c7aEh5Ey48","amount":"3"},{"operator_id":"op-a","wallet":"BnyQDM7asizk2pgFh44AFYUbsUHnvL98o8c7aEh5Ey48","amount":"3"}]`, "recipients[1].operator_id", "once per transaction"},
		{TypePayoutSubmitted, "recipients", `[{"operator_id":"op-a","wallet":"BnyQDM7asizk2pgFh44AFYUbsUHnvL98o8c7aEh5Ey48","amount":0}]`, "recipients[0].amount", rulePositive},
		{TypePayoutSubmitted, "recipients", `[{"operator_id":"op-a","wallet":"BnyQDM7asizk2pgFh44AFYUbsUHnvL98o8c7aEh5Ey48"}]`, "recipients[0].amount", ruleRequired},
		{TypePayoutSubmitted, "blockhash", q(b58(64, 3)), "blockhash", ruleBlockhash},
		{TypePayoutSubmitted, "signature", `"abc"`, "signature", ruleTxSignature},
		{TypePayoutSubmitted, "last_valid_block_height", `-1`, "last_valid_block_height", ruleInteger},
		{TypePayoutConfirmed, "slot", `1.5`, "slot", ruleInteger},
		{TypePayoutConfirmed, "slot", `0`, ok, ok},
	}
	for _, tc := range tests {
		name := tc.typ + "/" + tc.field + "=" + tc.value
		if len(name) > 80 {
			name = name[:80]
		}
		t.Run(name, func(t *testing.T) {
			m := map[string]json.RawMessage{}
			for k, v := range base[tc.typ] {
				m[k] = v
			}
			if tc.value == del {
				delete(m, tc.field)
			} else {
				m[tc.field] = json.RawMessage(tc.value)
			}
			data, err := json.Marshal(m)
			require.NoError(t, err)
			_, err = DecodeEvent(tc.typ, data)
			if tc.wantField == "" {
				require.NoError(t, err, "%s", data)
				return
			}
			require.Error(t, err, "%s", data)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T %v is not a *ValidationError", err, err)
			}
			assert.True(t, errors.Is(err, ErrInvalid))
			assert.Equal(t, tc.typ, ve.Event, err.Error())
			assert.Equal(t, tc.wantField, ve.Field, err.Error())
			assert.Contains(t, ve.Rule, tc.wantRule)
		})
	}
}

func TestValidationErrorText(t *testing.T) {
	err := (&FrameRendered{
		JobID: "job-1", NodeID: "n1", OutputHash: "ABC", DurationMS: 1,
		Telemetry: json.RawMessage(`{}`), Signature: b58(64, 1),
	}).Validate()
	assert.EqualError(t, err, `FrameRendered: field "output_hash": must be 64 lowercase hex characters (sha256)`)

	_, err = DecodeEvent(TypeFrameAccepted, []byte(`{"job_id":"j","frame":1,"node_id":"n","extra":true}`))
	assert.EqualError(t, err, `FrameAccepted: field "extra": unknown field`)
	_, err = DecodeEvent(TypeFrameAccepted, []byte(`{"job_id":"j","frame":1}`))
	assert.EqualError(t, err, `FrameAccepted: field "node_id": required`)
	_, err = DecodeEvent(TypeEpochClosed, []byte(`{"epoch":1,"emission":"1.5"}`))
	assert.EqualError(t, err, `EpochClosed: field "emission": must be an integer number of base units (a string of digits or a JSON integer)`)
	_, err = DecodeEvent("Nope", []byte(`{}`))
	assert.EqualError(t, err, `Nope: field "type": unknown event type`)
	_, err = DecodeEvent(TypeFrameAccepted, []byte(`[]`))
	assert.EqualError(t, err, `FrameAccepted: field "data": must be a JSON object`)
	_, err = DecodeEvent(TypeFrameAccepted, []byte(`{"job_id":"j",`))
	assert.ErrorContains(t, err, `FrameAccepted: field "data": invalid JSON at byte`)
	_, err = DecodeEvent(TypeFrameAccepted, []byte(`{"job_id":"j","job_id":"k","frame":1,"node_id":"n"}`))
	assert.ErrorContains(t, err, `duplicate key "job_id"`)
	_, err = DecodeEvent(TypeFrameAccepted, []byte(`{"job_\u0069d":"j","frame":1,"node_id":"n"}`))
	require.NoError(t, err, "escaped keys are unescaped")
	_, err = DecodeEvent(TypeFrameAccepted, []byte(`{"job_\u0069d":"j","job_id":"j","frame":1,"node_id":"n"}`))
	assert.ErrorContains(t, err, `duplicate key "job_id"`)
	assert.True(t, errors.Is(err, ErrInvalid))
	assert.True(t, (&ValidationError{Rule: "x"}).Error() == "event: x")
}

func TestValidateGoStructs(t *testing.T) {
	fr := &FrameRendered{JobID: "j", Frame: 1, NodeID: "n", OutputHash: strings.Repeat("a", 64), DurationMS: 5, Signature: b58(64, 9)}
	assert.EqualError(t, fr.Validate(), `FrameRendered: field "telemetry": must be a JSON object`)
	fr.Telemetry = json.RawMessage(`{"a":1}`)
	require.NoError(t, fr.Validate())

	wa, wb := b58(32, 1), b58(32, 50)
	pa, _ := ParseWallet(wa)
	pb, _ := ParseWallet(wb)
	sp := &SettlementPlanned{Epoch: 4, Total: 30, Payouts: []Payout{
		{OperatorID: "a", Wallet: wa, Amount: 10, Epochs: []uint64{2, 4}},
		{OperatorID: "b", Wallet: wb, Amount: 20},
	}}
	root := MerkleRoot([][32]byte{PayoutLeaf(4, "a", pa, 10), PayoutLeaf(4, "b", pb, 20)})
	sp.Root = HashHex(root)
	require.NoError(t, sp.Validate())
	r2, err := PlanRoot(4, sp.Payouts)
	require.NoError(t, err)
	assert.Equal(t, root, r2)
	sp.Payouts[0].Amount = ^BaseUnits(0)
	assert.ErrorContains(t, sp.Validate(), "exceeds the range of base units")

	bc := &BridgeConverted{EthTx: "0x" + strings.Repeat("A", 64), EthAddress: "0x" + strings.Repeat("b", 40), RNDRWei: "99999999999", Render: 9}
	require.NoError(t, bc.Validate())
	assert.Equal(t, "9999999999", bc.Dust().String())
	assert.Equal(t, "0x"+strings.Repeat("a", 64)+":0", bc.Key())

	for _, ev := range []Event{&NodeRegistered{}, &OperatorWalletSet{}, &JobSubmitted{}, &FrameAssigned{}, &FrameRendered{},
		&FrameAccepted{}, &FrameRejected{}, &ComputeWorkCompleted{}, &JobCompleted{}, &BurnRecorded{}, &EpochClosed{},
		&BridgeConverted{}, &SettlementPlanned{}, &PayoutSubmitted{}, &PayoutConfirmed{}, &PayoutExpired{}} {
		err := ev.Validate()
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("%s: zero value: %v", ev.EventType(), err)
		}
		assert.Equal(t, ev.EventType(), ve.Event)
		_, err = EncodeEvent(ev)
		require.Error(t, err, ev.EventType())
	}
}

func TestKnownTypes(t *testing.T) {
	assert.Equal(t, 21, len(KnownTypes))
	for _, k := range KnownTypes {
		assert.True(t, IsKnownType(k), k)
		assert.Equal(t, k, TypeName([]byte(k)))
	}
	assert.True(t, !IsKnownType("frameaccepted"))
	KnownTypes[0] = "changed"
	defer func() { KnownTypes[0] = TypeNodeRegistered }()
	assert.True(t, IsKnownType(TypeNodeRegistered), "KnownTypes is a copy")
	assert.True(t, IsWorkEvent(TypeFrameAccepted) && IsWorkEvent(TypeComputeWorkCompleted) && !IsWorkEvent(TypeFrameRendered))
}

func TestUnitJSONMethods(t *testing.T) {
	var ev BurnRecorded
	require.NoError(t, json.Unmarshal([]byte(`{"job_id":"j","usd":1000,"render_usd_price":"7.25","burned":13793103449,"tx_signature":"x"}`), &ev))
	assert.Equal(t, BaseUnits(13793103449), ev.Burned)
	assert.Equal(t, "7.25", ev.RenderUSDPrice.String())
	require.Error(t, json.Unmarshal([]byte(`{"burned":"1.5"}`), &ev))
	require.Error(t, json.Unmarshal([]byte(`{"usd":"1e-19"}`), &ev))
	require.Error(t, json.Unmarshal([]byte(`{"usd":true}`), &ev))
	var n NodeRegistered
	require.NoError(t, json.Unmarshal([]byte(`{"ob_score":860.5}`), &n))
	assert.Equal(t, OBScore(86050), n.OBScore)
	require.NoError(t, json.Unmarshal([]byte(`{"ob_score":null}`), &n))
	assert.Equal(t, OBScore(86050), n.OBScore)
	b, err := json.Marshal(&n)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"ob_score":"860.5"`)
}

// TestTypeNameDoesNotAllocate: a replay names millions of stored types;
// a catalogue type must come back as its constant without allocating.
func TestTypeNameDoesNotAllocate(t *testing.T) {
	b := []byte(TypeComputeWorkCompleted)
	if got := TypeName(b); got != TypeComputeWorkCompleted {
		t.Fatalf("TypeName = %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { _ = TypeName(b) }); n != 0 {
		t.Fatalf("TypeName allocates %v times per call", n)
	}
	if got := TypeName([]byte("NotAType")); got != "NotAType" {
		t.Fatalf("unknown type = %q", got)
	}
}
