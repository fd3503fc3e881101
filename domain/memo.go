package domain

import (
	"strconv"
	"strings"
)

// The memo every payout transaction of a settlement plan carries (the SPL
// Memo instruction's text) names the plan, so an operator, verify and
// reconcile find the plan's Merkle root on chain:
//
//	epochledger:<epoch>:<root hex>                        a legacy transaction
//	epochledger:<epoch>:<root hex>:<i>/<n>                v0 transaction i (1-based) of n
//	epochledger:<epoch>:<root hex>:1/<n>:<log head hex>   v0 transaction 1 of a plan that recorded the log's head
//
// Memo(epoch, root) is a prefix of every form, so whatever looks for a
// plan's memo by prefix finds them all (MemoOfPlan). Numbers are decimal
// without leading zeros; the log head anchors the log on chain (verify
// --anchors reads it back).

const memoPrefix = "epochledger:"

// Memo returns the memo of a plan's legacy payout transactions, and the
// prefix of its v0 ones: epochledger:<epoch>:<root hex>.
func Memo(epoch uint64, root string) string {
	return memoPrefix + strconv.FormatUint(epoch, 10) + ":" + root
}

// MemoV0 is the memo of transaction i (1-based) of n of a v0 batch:
// epochledger:<epoch>:<root hex>:<i>/<n>.
func MemoV0(epoch uint64, root string, i, n int) string {
	return Memo(epoch, root) + ":" + strconv.Itoa(i) + "/" + strconv.Itoa(n)
}

// MemoV0Anchor is MemoV0 with the log's anchor: on transaction 1/n, when
// the plan recorded a log head, the memo ends in :<log head hex>, so the
// chain holds the log's chain hash at plan time.
func MemoV0Anchor(epoch uint64, root string, i, n int, logHead string) string {
	m := MemoV0(epoch, root, i, n)
	if i == 1 && logHead != "" {
		m += ":" + logHead
	}
	return m
}

// PlanMemo is a payout memo read back by ParseMemo.
type PlanMemo struct {
	Epoch uint64
	Root  string
	// Part and Parts are i and n of a v0 transaction's memo; 0 and 0 in
	// the legacy form.
	Part, Parts int
	// LogHead is the anchor of a plan's transaction 1/n, "" when absent.
	LogHead string
}

// Base returns the plan's legacy memo, Memo(m.Epoch, m.Root): the prefix
// of every form of it.
func (m PlanMemo) Base() string { return Memo(m.Epoch, m.Root) }

// ParseMemo reads a memo of any of the three forms, strictly: the epoch
// and i/n in decimal without leading zeros, 1 ≤ i ≤ n, a non-empty root
// and, only on 1/n, a non-empty log head; no field holds a colon. It
// reports false for any other text.
func ParseMemo(text string) (PlanMemo, bool) {
	rest, ok := strings.CutPrefix(text, memoPrefix)
	if !ok {
		return PlanMemo{}, false
	}
	f := strings.Split(rest, ":")
	if len(f) < 2 || len(f) > 4 || f[1] == "" {
		return PlanMemo{}, false
	}
	var m PlanMemo
	if m.Epoch, ok = canonicalUint(f[0]); !ok {
		return PlanMemo{}, false
	}
	m.Root = f[1]
	if len(f) == 2 {
		return m, true
	}
	is, ns, ok := strings.Cut(f[2], "/")
	i, iok := canonicalUint(is)
	n, nok := canonicalUint(ns)
	if !ok || !iok || !nok || i < 1 || i > n || n > 1<<31 {
		return PlanMemo{}, false
	}
	m.Part, m.Parts = int(i), int(n)
	if len(f) == 4 {
		if i != 1 || f[3] == "" {
			return PlanMemo{}, false
		}
		m.LogHead = f[3]
	}
	return m, true
}

// canonicalUint parses s, decimal digits without a leading zero (other
// than "0" itself).
func canonicalUint(s string) (uint64, bool) {
	u, err := strconv.ParseUint(s, 10, 64)
	return u, err == nil && strconv.FormatUint(u, 10) == s
}

// MemoOfPlan reports whether text is a memo of the plan (epoch, root) in
// any form: Memo(epoch, root) itself or it followed by a colon. It is
// the test a reader of the chain applies (proof verification,
// reconcile); a payout transaction's builder writes the exact form and
// its verifier checks it with ParseMemo.
func MemoOfPlan(text string, epoch uint64, root string) bool {
	base := Memo(epoch, root)
	return text == base || strings.HasPrefix(text, base+":")
}
