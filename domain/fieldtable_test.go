package domain

import (
	"reflect"
	"strings"
	"testing"
)

// TestFieldTablesMatchStructs ties each field table to its struct: the
// table lists the struct's JSON members in the order of its fields (the
// order EncodeEvent writes, which the canonical path expects), and a
// member is optional in the table exactly when its tag says omitempty.
// A field added to a struct but not to its table, or listed out of
// order, fails here rather than silently taking the slow path or being
// refused as unknown.
func TestFieldTablesMatchStructs(t *testing.T) {
	events := map[string]bool{}
	for _, c := range []struct {
		fs  *fieldSet
		typ any
	}{
		{&nodeRegisteredFields.fieldSet, NodeRegistered{}},
		{&operatorWalletSetFields.fieldSet, OperatorWalletSet{}},
		{&jobSubmittedFields.fieldSet, JobSubmitted{}},
		{&frameAssignedFields.fieldSet, FrameAssigned{}},
		{&frameRenderedFields.fieldSet, FrameRendered{}},
		{&frameAcceptedFields.fieldSet, FrameAccepted{}},
		{&frameRejectedFields.fieldSet, FrameRejected{}},
		{&computeWorkCompletedFields.fieldSet, ComputeWorkCompleted{}},
		{&computeClientRegisteredFields.fieldSet, ComputeClientRegistered{}},
		{&jobCompletedFields.fieldSet, JobCompleted{}},
		{&burnRecordedFields.fieldSet, BurnRecorded{}},
		{&epochClosedFields.fieldSet, EpochClosed{}},
		{&bridgeConvertedFields.fieldSet, BridgeConverted{}},
		{&settlementPlannedFields.fieldSet, SettlementPlanned{}},
		{&payoutFields.fieldSet, Payout{}},
		{&payoutSubmittedFields.fieldSet, PayoutSubmitted{}},
		{&recipientFields.fieldSet, Recipient{}},
		{&loadedAddressesFields.fieldSet, LoadedAddresses{}},
		{&payoutConfirmedFields.fieldSet, PayoutConfirmed{}},
		{&payoutExpiredFields.fieldSet, PayoutExpired{}},
		{&emissionScheduleSetFields.fieldSet, EmissionScheduleSet{}},
		{&nodeAvailabilityFields.fieldSet, NodeAvailability{}},
		{&lookupTableCreatedFields.fieldSet, LookupTableCreated{}},
		{&lookupTableExtendedFields.fieldSet, LookupTableExtended{}},
	} {
		rt := reflect.TypeOf(c.typ)
		if ev, ok := reflect.New(rt).Interface().(Event); ok {
			events[ev.EventType()] = true
		}
		var names []string
		var optional uint64
		for i := range rt.NumField() {
			tag, ok := rt.Field(i).Tag.Lookup("json")
			if !ok || tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if strings.Contains(","+opts+",", ",omitempty,") {
				optional |= 1 << len(names)
			}
			names = append(names, name)
		}
		if !reflect.DeepEqual(c.fs.names, names) {
			t.Errorf("%s: the table lists %q, the struct %q", rt.Name(), c.fs.names, names)
		}
		if c.fs.optional != optional {
			t.Errorf("%s: the table's optional members are %b, the struct's omitempty ones %b", rt.Name(), c.fs.optional, optional)
		}
	}
	// Every event type has a table here: a new one must be added above.
	for _, typ := range KnownTypes {
		if !events[typ] {
			t.Errorf("event type %s has no table in this test", typ)
		}
	}
}

// TestFieldsOfRefusesDuplicates: a table naming a member twice is a
// programming error found when the package loads.
func TestFieldsOfRefusesDuplicates(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), `"job_id" is listed twice`) {
			t.Fatalf("recovered %v", r)
		}
	}()
	fieldsOf(
		required("job_id", func(d *decoder, e *JobCompleted, v jsonValue) { e.JobID = d.str(v) }),
		required("job_id", func(d *decoder, e *JobCompleted, v jsonValue) { e.ProvenanceRoot = d.str(v) }),
	)
}
