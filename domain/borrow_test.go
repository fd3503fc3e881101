package domain

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDecodeEventBorrowedMatches: the canonical-form path and the
// borrowing decoder give the same event or the same error as the general
// scanner for every golden event and for every one-byte change of each (a
// third of them in the frame events, whose strings are borrowed).
func TestDecodeEventBorrowedMatches(t *testing.T) {
	general := func(typ string, data []byte) (Event, error) {
		noCanonicalPath = true
		defer func() { noCanonicalPath = false }()
		return DecodeEvent(typ, data)
	}
	outcome := func(ev Event, err error) string {
		if err != nil {
			return "error: " + err.Error()
		}
		return fmt.Sprintf("%T %+v", ev, ev)
	}
	n, canon := 0, 0
	var arena FrameArena
	for _, line := range goldenLines(t) {
		env, err := ParseEnvelope(line)
		require.NoError(t, err)
		if fs := fieldSets[env.Type]; func() bool { _, ok := canonical(env.Data, &fs, make([]jsonValue, len(fs.names))); return ok }() {
			canon++
		}
		for i := -1; i < len(env.Data); i++ {
			for _, c := range []byte{'a', '"', '\\', '0', '1', ' ', 0xc3, 0x7f, 0x1f, ',', ':', '}', '{', '[', '.', '-', 'n'} {
				data := append([]byte(nil), env.Data...)
				if i >= 0 {
					data[i] = c
				}
				want := outcome(general(env.Type, data))
				if got := outcome(DecodeEvent(env.Type, data)); got != want {
					t.Fatalf("%s with byte %d = %q:\ncanonical path %s\ngeneral        %s", env.Type, i, c, got, want)
				}
				got := outcome(DecodeEventBorrowed(env.Type, append([]byte(nil), data...), &arena))
				if got != want {
					t.Fatalf("%s with byte %d = %q:\nborrowed %s\ngeneral  %s", env.Type, i, c, got, want)
				}
				n++
				if n%5 == 0 {
					arena.Reset()
				}
			}
		}
	}
	t.Logf("%d decodings agree", n)
	if canon < 10 {
		t.Fatalf("only %d golden events are in canonical form: the canonical path is hardly tested", canon)
	}
}

// TestDecodeEventBorrowedAliases pins the contract: a frame event's strings
// share the data's bytes (so the fold must copy what it keeps), an escaped
// string is decoded into its own copy, and other events never alias.
func TestDecodeEventBorrowedAliases(t *testing.T) {
	data := []byte(`{"job_id":"job-1","frame":3,"node_id":"n\u002d7"}`)
	ev, err := DecodeEventBorrowed(TypeFrameAccepted, data, nil)
	require.NoError(t, err)
	fa := ev.(*FrameAccepted)
	if fa.JobID != "job-1" || fa.NodeID != "n-7" {
		t.Fatalf("decoded %+v", fa)
	}
	copy(data[len(`{"job_id":"`):], "JOB")
	if fa.JobID != "JOB-1" || fa.NodeID != "n-7" {
		t.Fatalf("after changing the data: %+v (job_id must alias it, the escaped node_id must not)", fa)
	}
	data = []byte(`{"job_id":"job-1","artist":"ann","scene_hash":"` + fmt.Sprintf("%064x", 1) + `","frames":2,"usd_per_obh":"1"}`)
	ev, err = DecodeEventBorrowed(TypeJobSubmitted, data, nil)
	require.NoError(t, err)
	copy(data[len(`{"job_id":"`):], "JOB")
	if js := ev.(*JobSubmitted); js.JobID != "job-1" {
		t.Fatalf("JobSubmitted aliases its data: %+v", js)
	}
}

var fieldSets = map[string]fieldSet{
	TypeNodeRegistered: nodeRegisteredFields.fieldSet, TypeOperatorWalletSet: operatorWalletSetFields.fieldSet,
	TypeJobSubmitted: jobSubmittedFields.fieldSet, TypeFrameAssigned: frameAssignedFields.fieldSet,
	TypeFrameRendered: frameRenderedFields.fieldSet, TypeFrameAccepted: frameAcceptedFields.fieldSet,
	TypeFrameRejected: frameRejectedFields.fieldSet, TypeComputeWorkCompleted: computeWorkCompletedFields.fieldSet,
	TypeJobCompleted: jobCompletedFields.fieldSet, TypeBurnRecorded: burnRecordedFields.fieldSet,
	TypeEpochClosed: epochClosedFields.fieldSet, TypeBridgeConverted: bridgeConvertedFields.fieldSet,
	TypeSettlementPlanned: settlementPlannedFields.fieldSet, TypePayoutSubmitted: payoutSubmittedFields.fieldSet,
	TypePayoutConfirmed: payoutConfirmedFields.fieldSet, TypePayoutExpired: payoutExpiredFields.fieldSet,
	TypeComputeClientRegistered: computeClientRegisteredFields.fieldSet,
	TypeLookupTableCreated:      lookupTableCreatedFields.fieldSet, TypeLookupTableExtended: lookupTableExtendedFields.fieldSet,
}

// TestCanonicalOptionalTail: data that leaves out trailing optional fields
// (what EncodeEvent's omitempty writes: a ComputeWorkCompleted without a
// client signature, a wallet without an eth address) takes the canonical
// path and decodes as the general scanner does.
func TestCanonicalOptionalTail(t *testing.T) {
	for _, c := range []struct{ typ, data string }{
		{TypeComputeWorkCompleted, `{"task_id":"t","node_id":"n","client":"io.net","duration_ms":1,"usd":"1","output_hash":"` + hex64 + `","signature":"` + b58(64, 1) + `"}`},
		{TypeOperatorWalletSet, `{"operator_id":"op","wallet":"` + b58(32, 1) + `"}`},
	} {
		fs := fieldSets[c.typ]
		_, ok := canonical([]byte(c.data), &fs, make([]jsonValue, len(fs.names)))
		assert.True(t, ok, c.typ)
		ev, err := DecodeEvent(c.typ, []byte(c.data))
		require.NoError(t, err, c.typ)
		noCanonicalPath = true
		ev2, err2 := DecodeEvent(c.typ, []byte(c.data))
		noCanonicalPath = false
		require.NoError(t, err2)
		assert.Equal(t, ev2, ev)
	}
	// A required field left out is not the canonical form.
	fs := fieldSets[TypeComputeWorkCompleted]
	_, ok := canonical([]byte(`{"task_id":"t","node_id":"n","client":"io.net","duration_ms":1,"usd":"1","output_hash":"`+hex64+`"}`), &fs, make([]jsonValue, len(fs.names)))
	assert.True(t, !ok)
}

var hex64 = "ab" + "cdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"

// BenchmarkDecodeComputeWorkCompleted: a report of the old form (no
// client_signature) on the canonical path against the general scanner, in
// the same run.
func BenchmarkDecodeComputeWorkCompleted(b *testing.B) {
	data := []byte(`{"task_id":"task-1","node_id":"n1","client":"io.net","duration_ms":60000,"usd":"12.5","output_hash":"` + hex64 + `","signature":"` + b58(64, 7) + `"}`)
	for _, general := range []bool{false, true} {
		name := "canonical"
		if general {
			name = "general"
		}
		b.Run(name, func(b *testing.B) {
			noCanonicalPath = general
			defer func() { noCanonicalPath = false }()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeEvent(TypeComputeWorkCompleted, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
