package simlog

import (
	"crypto/ed25519"
	"fmt"

	"github.com/mr-tron/base58"

	"github.com/epochledger/epochledger/domain"
)

// NodeVRAM registers a node with its deterministic key and vram_gb (what
// the availability channel needs).
func (b *Builder) NodeVRAM(nodeID, operatorID, ob string, vramGB uint32) {
	k := NodeKey(nodeID)
	b.keys[nodeID] = k
	score, err := domain.ParseOBScore(ob)
	if err != nil {
		panic(err)
	}
	b.Add("node-"+nodeID, &domain.NodeRegistered{NodeID: nodeID, OperatorID: operatorID, NodePubkey: base58.Encode(k.Public().(ed25519.PublicKey)),
		GPU: "RTX 4090", OBScore: score, VRAMGB: vramGB})
}

// Schedule records an emission schedule; channels in RENDER text.
func (b *Builder) Schedule(rnp string, effective uint64, channels map[string]string) {
	ch := map[string]domain.RenderAmount{}
	for k, v := range channels {
		a, err := domain.ParseRender(v)
		if err != nil {
			panic(err)
		}
		ch[k] = domain.RenderAmount(a)
	}
	b.Add("schedule", &domain.EmissionScheduleSet{RNP: rnp, EffectiveEpoch: effective, Channels: ch})
}

// Availability records a node's availability in the open epoch.
func (b *Builder) Availability(epoch uint64, nodeID string, windowMS, onlineMS, busyMS uint64) {
	b.Add("node-"+nodeID, &domain.NodeAvailability{Epoch: epoch, NodeID: nodeID, WindowMS: windowMS, OnlineMS: onlineMS, BusyMS: busyMS})
}

// CloseEpochChannels closes epoch n with channel amounts in base units
// (emission = their sum).
func (b *Builder) CloseEpochChannels(n uint64, channels map[string]domain.BaseUnits) {
	sum, ok := domain.ChannelsSum(channels)
	if !ok {
		panic("simlog: channels overflow")
	}
	b.Add(fmt.Sprintf("epoch-%d", n), &domain.EpochClosed{Epoch: n, Emission: sum, Channels: channels})
}
