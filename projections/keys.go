package projections

import (
	"sort"

	"github.com/epochledger/epochledger/domain"
)

// KeyOwner returns who holds the signing key b58 (a node or a compute
// client), "" when nobody does.
func (l *Ledger) KeyOwner(b58 string) domain.KeyOwner { return l.keys[b58] }

// addKey records the holder of a key; the first registration keeps it
// (Check refuses a second holder, Apply stays total on logs that did not
// pass it). Base58 of exactly 32 bytes has one spelling per key, so the
// text is the map key.
func (l *Ledger) addKey(b58 string, owner domain.KeyOwner) {
	if l.keys == nil {
		l.keys = map[string]domain.KeyOwner{}
	}
	if _, taken := l.keys[b58]; !taken {
		l.keys[b58] = owner
	}
}

// reindexKeys rebuilds the key index from the nodes and compute clients,
// in the order they were registered (a checkpoint does not store it).
func (l *Ledger) reindexKeys() {
	type reg struct {
		pos   uint64
		key   string
		owner domain.KeyOwner
	}
	var regs []reg
	for _, n := range l.Nodes {
		regs = append(regs, reg{n.Registered, n.Pubkey, domain.NodeKeyOwner(n.ID)})
	}
	for _, c := range l.ComputeClients {
		for _, k := range c.keys {
			regs = append(regs, reg{k.pos, k.key, domain.ClientKeyOwner(c.ID)})
		}
	}
	sort.Slice(regs, func(i, j int) bool { return regs[i].pos < regs[j].pos })
	l.keys = nil
	for _, r := range regs {
		l.addKey(r.key, r.owner)
	}
}
