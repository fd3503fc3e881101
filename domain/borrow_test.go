package domain

import (
	"fmt"
	"testing"
)

// TestDecodeEventBorrowedMatches: the borrowing decoder gives the same
// event or the same error as DecodeEvent for every golden event and for
// every one-byte change of each (a third of them in the frame events,
// whose strings it borrows).
func TestDecodeEventBorrowedMatches(t *testing.T) {
	outcome := func(ev Event, err error) string {
		if err != nil {
			return "error: " + err.Error()
		}
		return fmt.Sprintf("%T %+v", ev, ev)
	}
	n := 0
	var arena FrameArena
	for _, line := range goldenLines(t) {
		env, err := ParseEnvelope(line)
		noErr(t, err)
		for i := -1; i < len(env.Data); i++ {
			for _, c := range []byte{'a', '"', '\\', '0', ' ', 0xc3} {
				data := append([]byte(nil), env.Data...)
				if i >= 0 {
					data[i] = c
				}
				want := outcome(DecodeEvent(env.Type, data))
				got := outcome(DecodeEventBorrowed(env.Type, append([]byte(nil), data...), &arena))
				if got != want {
					t.Fatalf("%s with byte %d = %q:\nborrowed %s\nowned    %s", env.Type, i, c, got, want)
				}
				n++
				if n%5 == 0 {
					arena.Reset()
				}
			}
		}
	}
	t.Logf("%d decodings agree", n)
}

// TestDecodeEventBorrowedAliases pins the contract: a frame event's strings
// share the data's bytes (so the fold must copy what it keeps), an escaped
// string is decoded into its own copy, and other events never alias.
func TestDecodeEventBorrowedAliases(t *testing.T) {
	data := []byte(`{"job_id":"job-1","frame":3,"node_id":"n\u002d7"}`)
	ev, err := DecodeEventBorrowed(TypeFrameAccepted, data, nil)
	noErr(t, err)
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
	noErr(t, err)
	copy(data[len(`{"job_id":"`):], "JOB")
	if js := ev.(*JobSubmitted); js.JobID != "job-1" {
		t.Fatalf("JobSubmitted aliases its data: %+v", js)
	}
}
