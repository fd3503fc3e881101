package coordinator

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"filippo.io/edwards25519"
	"github.com/mr-tron/base58"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/workers/api"
)

// TestRegisterRefusesWeakKeys (issue #18): the identity key lets anyone
// sign (with R = B and s = 1 every message verifies), so POST /v1/nodes
// accepted a node whose requests anyone could forge. serve now applies the
// same key rule as import; a key a compute client holds is a conflict
// (409) like one another node holds.
func TestRegisterRefusesWeakKeys(t *testing.T) {
	ck := computeClientKey("io.net")
	h := newHarness(t, func(o *Options) { o.ComputeClients = []ComputeClient{ioNet(t, ck, "1", "1")} })
	body, _ := json.Marshal(api.RegisterNodeRequest{NodeID: "nx", OperatorID: "op", GPU: "RTX 3090", OBScore: "500"})
	identity := edwards25519.NewIdentityPoint().Bytes()
	forged := append(edwards25519.NewGeneratorPoint().Bytes(), make([]byte, 32)...)
	forged[32] = 1 // s = 1: [1]B = R + [k]·identity for every message
	ts := h.clock.Now().UnixMilli()
	nonce := api.NewNonce()
	if !ed25519.Verify(identity, api.RequestMessage("POST", api.PathNodes, sha256.Sum256(body), ts, nonce), forged) {
		t.Fatal("the forged signature should verify under the identity key")
	}
	hdr := map[string]string{
		api.HeaderKey: base58.Encode(identity), api.HeaderTimestamp: strconv.FormatInt(ts, 10),
		api.HeaderNonce: nonce, api.HeaderSignature: base58.Encode(forged),
		"Authorization": "Bearer " + adminToken, "Content-Type": "application/json",
	}
	before := h.head()
	status, e := h.raw("POST", api.PathNodes, body, hdr)
	if status != http.StatusUnprocessableEntity || !strings.Contains(e.Message, `NodeRegistered: field "node_pubkey": must not be a point of small order`) {
		t.Fatalf("identity key: %d %+v", status, e)
	}
	c := api.NewClient(h.ts.URL, ck, adminToken)
	_, err := c.RegisterNode(context.Background(), api.RegisterNodeRequest{NodeID: "ny", OperatorID: "op", GPU: "RTX 3090", OBScore: "500"})
	if ae := asAPIError(err); ae == nil || ae.Status != http.StatusConflict || !strings.Contains(ae.Message, `NodeRegistered: field "node_pubkey": key `) || !strings.Contains(ae.Message, `already registered to compute client "io.net"`) {
		t.Fatalf("a compute client's key: %v", err)
	}
	if h.head() != before {
		t.Fatal("a refused registration appended")
	}
	if h.count(domain.TypeNodeRegistered) != 0 {
		t.Fatal("nodes registered")
	}
}
