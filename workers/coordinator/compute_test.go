package coordinator

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"

	"github.com/mr-tron/base58"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/workers/api"
)

func computeClientKey(id string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte("test-client:" + id))
	return ed25519.NewKeyFromSeed(s[:])
}

func ioNet(t *testing.T, k ed25519.PrivateKey, perTask, perNodeEpoch string) ComputeClient {
	a, err := domain.ParseUSD(perTask)
	if err != nil {
		t.Fatal(err)
	}
	b, err := domain.ParseUSD(perNodeEpoch)
	if err != nil {
		t.Fatal(err)
	}
	return ComputeClient{ID: "io.net", Pubkey: base58.Encode(k.Public().(ed25519.PublicKey)), MaxUSDPerTask: a, MaxUSDPerNodeEpoch: b}
}

// computeReq is an io.net report signed by the node and attested by the
// client key (nil: no attestation).
func computeReq(t *testing.T, nodeKey, clientKey ed25519.PrivateKey, task, node, usdText string) api.ComputeRequest {
	usd, err := domain.ParseUSD(usdText)
	if err != nil {
		t.Fatal(err)
	}
	hash := sceneHash("output of " + task)
	req := api.ComputeRequest{TaskID: task, Client: "io.net", DurationMS: 60000, USD: usdText, OutputHash: hash,
		Signature: domain.SignProof(nodeKey, domain.ComputeProofMessage(task, node, "io.net", hash, 60000, usd))}
	if clientKey != nil {
		req.ClientSignature = domain.SignProof(clientKey, domain.ComputeClientMessage(task, node, "io.net", hash, 60000, usd))
	}
	return req
}

// TestComputeNeedsClientAttestation (issue #18 finding 3): a node's own
// report of usd 1e9 answered 201 and took the whole emission. Now the
// coordinator refuses a report without its registered client's valid
// signature, and bounds attested work per task and per node per epoch by
// the configured caps, which it records in the log.
func TestComputeNeedsClientAttestation(t *testing.T) {
	ck := computeClientKey("io.net")
	h := newHarness(t, nil) // no compute client configured
	n1 := h.node("n1", "op-a", "500")
	ctx := context.Background()
	refusedWith := func(req api.ComputeRequest, want string) {
		t.Helper()
		before := h.head()
		_, err := n1.Compute(ctx, req)
		ae := asAPIError(err)
		if ae == nil || ae.Status != http.StatusUnprocessableEntity || !strings.Contains(ae.Message, want) {
			t.Fatalf("got %v, want a 422 containing %q", err, want)
		}
		if h.head() != before {
			t.Fatal("a refused report appended")
		}
	}
	// The attack: the node's own word, no client signature.
	refusedWith(computeReq(t, h.keys["n1"], nil, "t1", "n1", "1000000000"), `field "client_signature": required`)
	// Signed by a client the log does not know.
	refusedWith(computeReq(t, h.keys["n1"], ck, "t1", "n1", "10"), `compute client "io.net" is not registered`)

	h.restart(func(o *Options) { o.ComputeClients = []ComputeClient{ioNet(t, ck, "100", "150")} })
	n1 = h.client("n1")
	if n := h.count(domain.TypeComputeClientRegistered); n != 1 {
		t.Fatalf("%d registrations", n)
	}
	// The node signs as the client.
	refusedWith(computeReq(t, h.keys["n1"], h.keys["n1"], "t1", "n1", "10"), "does not verify with compute client")
	refusedWith(computeReq(t, h.keys["n1"], ck, "t1", "n1", "1000000000"), "cap of 100 USD per task")
	if _, err := n1.Compute(ctx, computeReq(t, h.keys["n1"], ck, "t1", "n1", "100")); err != nil {
		t.Fatal(err)
	}
	refusedWith(computeReq(t, h.keys["n1"], ck, "t2", "n1", "50.01"), "cap of 150 USD per node per epoch")
	if _, err := n1.Compute(ctx, computeReq(t, h.keys["n1"], ck, "t2", "n1", "50")); err != nil {
		t.Fatal(err)
	}
	// The same configuration after a restart records nothing new; new
	// caps are recorded and apply from there.
	h.restart(nil)
	if n := h.count(domain.TypeComputeClientRegistered); n != 1 {
		t.Fatalf("%d registrations after a restart with the same caps", n)
	}
	n1 = h.client("n1")
	refusedWith(computeReq(t, h.keys["n1"], ck, "t3", "n1", "1"), "cap of 150 USD per node per epoch")
	h.restart(func(o *Options) { o.ComputeClients = []ComputeClient{ioNet(t, ck, "100", "151")} })
	n1 = h.client("n1")
	if n := h.count(domain.TypeComputeClientRegistered); n != 2 {
		t.Fatalf("%d registrations after new caps", n)
	}
	if _, err := n1.Compute(ctx, computeReq(t, h.keys["n1"], ck, "t3", "n1", "1")); err != nil {
		t.Fatal(err)
	}
	h.checkReplay()
}

// TestCloseEpochEmissionCap (issue #18 finding 8): POST /v1/epochs/close
// with emission 2^64−1 is refused, naming the event, field and cap.
func TestCloseEpochEmissionCap(t *testing.T) {
	h := newHarness(t, nil)
	before := h.head()
	_, err := h.admin.CloseEpoch(context.Background(), api.CloseEpochRequest{Emission: "18446744073709551615"})
	ae := asAPIError(err)
	if ae == nil || ae.Status != http.StatusUnprocessableEntity || !strings.Contains(ae.Message, `EpochClosed: field "emission"`) || !strings.Contains(ae.Message, "total-supply cap") {
		t.Fatalf("got %v", err)
	}
	if h.head() != before {
		t.Fatal("a refused close appended")
	}
	h.restart(func(o *Options) { o.SupplyCap = 10 })
	if _, err := h.admin.CloseEpoch(context.Background(), api.CloseEpochRequest{Emission: "10"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.admin.CloseEpoch(context.Background(), api.CloseEpochRequest{Emission: "1"}); asAPIError(err) == nil || !strings.Contains(asAPIError(err).Message, "at most 0 may be") {
		t.Fatalf("past the configured cap: %v", err)
	}
}
