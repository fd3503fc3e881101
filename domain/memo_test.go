package domain

import (
	"fmt"
	"testing"
)

// TestMemoForms: the three memo forms are built as DESIGN.md spells them,
// ParseMemo reads each back, and MemoOfPlan finds the plan in each (the
// cases of settlement's former memoOfPlan, ParseAnchor and AnchorOfMemo
// tests, which these functions replace).
func TestMemoForms(t *testing.T) {
	head := fmt.Sprintf("%064x", 9)
	root := fmt.Sprintf("%064x", 7)
	for _, c := range []struct {
		got, want string
		parsed    PlanMemo
	}{
		{Memo(12, root), "epochledger:12:" + root, PlanMemo{Epoch: 12, Root: root}},
		{MemoV0(3, "ab", 2, 7), "epochledger:3:ab:2/7", PlanMemo{Epoch: 3, Root: "ab", Part: 2, Parts: 7}},
		{MemoV0Anchor(3, "ab", 1, 7, head), "epochledger:3:ab:1/7:" + head, PlanMemo{Epoch: 3, Root: "ab", Part: 1, Parts: 7, LogHead: head}},
		// Only 1/n carries the anchor, and only when the plan has a head.
		{MemoV0Anchor(3, "ab", 2, 7, head), "epochledger:3:ab:2/7", PlanMemo{Epoch: 3, Root: "ab", Part: 2, Parts: 7}},
		{MemoV0Anchor(3, "ab", 1, 7, ""), "epochledger:3:ab:1/7", PlanMemo{Epoch: 3, Root: "ab", Part: 1, Parts: 7}},
	} {
		if c.got != c.want {
			t.Fatalf("built %q, want %q", c.got, c.want)
		}
		pm, ok := ParseMemo(c.got)
		if !ok || pm != c.parsed {
			t.Fatalf("ParseMemo(%q) = %+v, %v; want %+v", c.got, pm, ok, c.parsed)
		}
		if pm.Base() != Memo(c.parsed.Epoch, c.parsed.Root) {
			t.Fatalf("%q: Base() = %q", c.got, pm.Base())
		}
		if !MemoOfPlan(c.got, c.parsed.Epoch, c.parsed.Root) {
			t.Fatalf("MemoOfPlan(%q) is false", c.got)
		}
	}
}

// TestParseMemoRefuses: text that is not one of the three forms exactly.
func TestParseMemoRefuses(t *testing.T) {
	head := fmt.Sprintf("%064x", 9)
	for _, text := range []string{
		"",
		"epochledger",
		"epochledger:",
		"epochledger:3",
		"epochledger:3:",                      // no root
		"epochledger:03:ab",                   // leading zero
		"epochledger:-3:ab",                   // not a number
		"epochledger:18446744073709551616:ab", // past uint64
		"other:3:ab",
		"epochledger:3:ab:8/7",         // i > n
		"epochledger:3:ab:0/7",         // i < 1
		"epochledger:3:ab:02/7",        // leading zero
		"epochledger:3:ab:2/07",        // leading zero
		"epochledger:3:ab:2-7",         // no slash
		"epochledger:3:ab:",            // empty part
		"epochledger:3:ab:2/7:" + head, // the anchor is only on 1/n
		"epochledger:3:ab:1/7:",        // empty anchor
		"epochledger:3:ab:1/7:" + head + ":x",
	} {
		if pm, ok := ParseMemo(text); ok {
			t.Fatalf("ParseMemo(%q) = %+v, want a refusal", text, pm)
		}
	}
}

// TestMemoOfPlan: the reader's test is the prefix rule, and a memo of
// another epoch or root is not the plan's.
func TestMemoOfPlan(t *testing.T) {
	for _, c := range []struct {
		text string
		want bool
	}{
		{"epochledger:3:ab", true},
		{"epochledger:3:ab:2/7", true},
		{"epochledger:3:ab:1/7:ff", true},
		{"epochledger:3:abc", false},
		{"epochledger:30:ab", false},
		{"epochledger:4:ab", false},
		{"xepochledger:3:ab", false},
	} {
		if got := MemoOfPlan(c.text, 3, "ab"); got != c.want {
			t.Fatalf("MemoOfPlan(%q, 3, ab) = %v", c.text, got)
		}
	}
}
