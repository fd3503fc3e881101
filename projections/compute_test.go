package projections

import (
	"crypto/ed25519"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mr-tron/base58"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/scenarios/simlog"
)

// TestNodeKeyRules (issue #18): a node key off the curve, spelled
// non-canonically or of small order, or already held by another node or a
// compute client, is refused by the ledger's Check — the one rule import
// and serve both apply.
func TestNodeKeyRules(t *testing.T) {
	hexKey := func(h string) string {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		return base58.Encode(b)
	}
	n1Key := base58.Encode(simlog.NodeKey("n1").Public().(ed25519.PublicKey))
	clientKey := base58.Encode(simlog.ClientKey("io.net").Public().(ed25519.PublicKey))
	cases := []struct{ name, key, want string }{
		{"off curve", hexKey("0200000000000000000000000000000000000000000000000000000000000000"), "point on the ed25519 curve"},
		{"non-canonical", hexKey("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), "canonical encoding"},
		{"identity", hexKey("0100000000000000000000000000000000000000000000000000000000000000"), "small order"},
		{"order 8", hexKey("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"), "small order"},
		{"another node's key", n1Key, `already registered to node "n1"`},
		{"a compute client's key", clientKey, `already registered to compute client "io.net"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := base()
			b.ComputeClient("io.net", "10", "100")
			l := fold(t, b)
			b.Add("node-nx", &domain.NodeRegistered{NodeID: "nx", OperatorID: "op-x", NodePubkey: c.key, GPU: "RTX 4090", OBScore: 100})
			refused(t, l, b, c.want)
		})
	}
	// A client may not take a node's key either.
	b := base()
	l := fold(t, b)
	b.Add("client-c", &domain.ComputeClientRegistered{ClientID: "c", ClientPubkey: n1Key, MaxUSDPerTask: usd(t, "1"), MaxUSDPerNodeEpoch: usd(t, "1")})
	refused(t, l, b, `already registered to node "n1"`)
}

func usd(t *testing.T, s string) domain.USD {
	t.Helper()
	u, err := domain.ParseUSD(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestComputeClientRule (issue #18 finding 3): once a compute client is
// registered, compute work is worth only what a registered client signs,
// within its caps per task and per node per epoch.
func TestComputeClientRule(t *testing.T) {
	setup := func() *simlog.Builder {
		b := base()
		b.Compute("t-old", "n1", 60_000, "1000000000") // before any client: the old form stands
		b.ComputeClient("io.net", "100", "250")
		return b
	}
	t.Run("the attack: a node's own word", func(t *testing.T) {
		b := setup()
		l := fold(t, b)
		// A node signs its own report with usd 1e9 and no client signature.
		b.ComputeBy("self", "t1", "n1", 60_000, "1000000000")
		refused(t, l, b, `compute client "self" is not registered`)
		b.Compute("t1", "n1", 60_000, "1") // io.net is registered: the builder signs…
		env := b.Envelopes()[len(b.Envelopes())-1]
		ev, _ := env.Event()
		ev.(*domain.ComputeWorkCompleted).ClientSignature = "" // …but the client's signature is missing
		if err := l.Check(env.Time, ev); err == nil || !strings.Contains(err.Error(), `field "client_signature": required`) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a forged client signature", func(t *testing.T) {
		b := setup()
		l := fold(t, b)
		b.Compute("t1", "n1", 60_000, "10")
		env := b.Envelopes()[len(b.Envelopes())-1]
		ev, _ := env.Event()
		e := ev.(*domain.ComputeWorkCompleted)
		e.ClientSignature = domain.SignProof(simlog.NodeKey("n1"), e.ClientMessage()) // the node signs as the client
		if err := l.Check(env.Time, e); err == nil || !strings.Contains(err.Error(), `does not verify with compute client "io.net"'s registered key`) {
			t.Fatalf("got %v", err)
		}
		e.ClientSignature = domain.SignProof(simlog.ClientKey("io.net"), e.ClientMessage())
		e.USD = usd(t, "11") // the client signed 10
		if err := l.Check(env.Time, e); err == nil || !strings.Contains(err.Error(), "does not verify") {
			t.Fatalf("a changed usd: got %v", err)
		}
	})
	t.Run("per-task cap", func(t *testing.T) {
		b := setup()
		b.Compute("t1", "n1", 60_000, "100") // exactly the cap
		l := fold(t, b)
		b.Compute("t2", "n2", 60_000, "100.000000000000000001")
		refused(t, l, b, `exceeds compute client "io.net"'s cap of 100 USD per task`)
	})
	t.Run("per-node-per-epoch cap", func(t *testing.T) {
		b := setup()
		b.Compute("t1", "n1", 60_000, "100")
		b.Compute("t2", "n1", 60_000, "100")
		b.Compute("t3", "n2", 60_000, "100") // another node has its own cap
		l := fold(t, b)
		b.Compute("t4", "n1", 60_000, "50.5")
		refused(t, l, b, `node "n1" would have 250.5 USD attested by compute client "io.net" in epoch 1, over its cap of 250 USD`)

		b = setup()
		b.Compute("t1", "n1", 60_000, "100")
		b.Compute("t2", "n1", 60_000, "100")
		b.Compute("t3", "n1", 60_000, "50") // exactly the cap
		b.CloseEpoch(1, domain.DefaultEmission)
		b.Compute("t4", "n1", 60_000, "100") // a new epoch, a new cap
		l = fold(t, b)
		ep := l.Epoch(1)
		// t-old ($1e9, the old form) and $250 attested.
		if got := domain.FormatValueUSD(ep.Nodes["n1"].Value.Big()); got != "1000000250" {
			t.Fatalf("epoch 1 value of n1: %s", got)
		}
	})
	t.Run("caps survive a checkpoint", func(t *testing.T) {
		b := setup()
		b.Compute("t1", "n1", 60_000, "100")
		b.Compute("t2", "n1", 60_000, "100")
		l := fold(t, b)
		path := filepath.Join(t.TempDir(), "c.ckpt")
		if err := l.WriteCheckpoint(path); err != nil {
			t.Fatal(err)
		}
		r, err := ReadCheckpoint(path)
		if err != nil {
			t.Fatal(err)
		}
		h1, _ := l.StateHash()
		h2, _ := r.StateHash()
		if h1 != h2 {
			t.Fatal("restored ledger differs")
		}
		b.Compute("t3", "n1", 60_000, "50.01")
		refused(t, r, b, "over its cap")
		b.Add("node-n9", &domain.NodeRegistered{NodeID: "n9", OperatorID: "op-x", NodePubkey: r.ComputeClients["io.net"].Pubkey, GPU: "x", OBScore: 1})
		refused(t, r, b, `already registered to compute client "io.net"`)
	})
	t.Run("a client re-registered with new caps and key", func(t *testing.T) {
		b := setup()
		b.Compute("t1", "n1", 60_000, "100")
		l := fold(t, b)
		k := base58.Encode(simlog.NodeKey("rotated").Public().(ed25519.PublicKey))
		b.Add("client-io.net", &domain.ComputeClientRegistered{ClientID: "io.net", ClientPubkey: k, MaxUSDPerTask: usd(t, "5"), MaxUSDPerNodeEpoch: usd(t, "500")})
		env := b.Envelopes()[len(b.Envelopes())-1]
		ev, _ := env.Event()
		if err := l.Check(env.Time, ev); err != nil {
			t.Fatal(err)
		}
		l.Apply(l.Position+1, ev)
		b.Compute("t2", "n1", 60_000, "5") // signed with the old key
		refused(t, l, b, "does not verify")
	})
}
