package projections

import (
	"sort"

	"github.com/epochledger/epochledger/domain"
)

// ComputeClient is a registered compute client: the key and caps of its
// latest ComputeClientRegistered.
type ComputeClient struct {
	ID                 string
	Pubkey             string
	MaxUSDPerTask      domain.USD
	MaxUSDPerNodeEpoch domain.USD
	Registered         uint64 // position of the registration in force
	// keys is every key the client was registered with, in log order:
	// they stay its own after a rotation.
	keys []clientKey
}

type clientKey struct {
	key string
	pos uint64
}

// clientNode keys what one client attested for one node in the open epoch.
type clientNode struct{ client, node string }

// attested returns the usd client has attested for node in the open epoch.
func (l *Ledger) attested(client, node string) domain.USD {
	return l.computeUsed[clientNode{client, node}]
}

// checkComputeClient is the compute-client rule of ComputeWorkCompleted
// (see domain.ComputeClientRegistered): from the first client registration
// in the log on, or whenever a report carries a client signature, the
// report must name a registered client, carry its valid signature, and stay
// within the client's caps per task and per node per epoch.
func (l *Ledger) checkComputeClient(e *domain.ComputeWorkCompleted) error {
	if len(l.ComputeClients) == 0 && e.ClientSignature == "" {
		return nil // a log from before compute clients: the old form keeps its meaning
	}
	c := l.ComputeClients[e.Client]
	if c == nil {
		return refuse(e, "client", "compute client %q is not registered; compute work is worth what a registered client attests (ComputeClientRegistered)", e.Client)
	}
	if e.ClientSignature == "" {
		return refuse(e, "client_signature", "required: compute client %q must sign (task, node, duration, usd, output hash); a node's own word never sets a value", e.Client)
	}
	if domain.VerifyProof(c.Pubkey, e.ClientMessage(), e.ClientSignature) != nil {
		return refuse(e, "client_signature", "does not verify with compute client %q's registered key over the canonical client message", e.Client)
	}
	if e.USD.Cmp(c.MaxUSDPerTask) > 0 {
		return refuse(e, "usd", "%s exceeds compute client %q's cap of %s USD per task (ComputeClientRegistered at position %d)", e.USD, e.Client, c.MaxUSDPerTask, c.Registered)
	}
	used := l.attested(e.Client, e.NodeID)
	sum, ok := domain.AddUSD(used, e.USD)
	if !ok || sum.Cmp(c.MaxUSDPerNodeEpoch) > 0 {
		return refuse(e, "usd", "node %q would have %s USD attested by compute client %q in epoch %d, over its cap of %s USD per node per epoch (ComputeClientRegistered at position %d); %s USD is attested already",
			e.NodeID, sumText(sum, ok), e.Client, l.Open().N, c.MaxUSDPerNodeEpoch, c.Registered, used)
	}
	return nil
}

func sumText(u domain.USD, ok bool) string {
	if !ok {
		return "more than 2^128 atto"
	}
	return u.String()
}

// checkComputeClientRegistered checks the key of a registration: the one
// key rule (domain.CheckKeyRegistration) shared with nodes.
func (l *Ledger) checkComputeClientRegistered(e *domain.ComputeClientRegistered) error {
	return domain.CheckKeyRegistration(domain.TypeComputeClientRegistered, "client_pubkey", e.ClientPubkey,
		l.KeyOwner(e.ClientPubkey), domain.ClientKeyOwner(e.ClientID))
}

func (l *Ledger) applyComputeClientRegistered(pos uint64, e *domain.ComputeClientRegistered) {
	if l.ComputeClients == nil {
		l.ComputeClients = map[string]*ComputeClient{}
	}
	c := l.ComputeClients[e.ClientID]
	if c == nil {
		c = &ComputeClient{ID: e.ClientID}
		l.ComputeClients[e.ClientID] = c
	}
	c.Pubkey, c.MaxUSDPerTask, c.MaxUSDPerNodeEpoch, c.Registered = e.ClientPubkey, e.MaxUSDPerTask, e.MaxUSDPerNodeEpoch, pos
	c.keys = append(c.keys, clientKey{e.ClientPubkey, pos})
	l.addKey(e.ClientPubkey, domain.ClientKeyOwner(e.ClientID))
}

// noteAttested counts a client-attested report towards its node's cap in
// the open epoch. Reports of the old form (no client signature) count
// towards nothing.
func (l *Ledger) noteAttested(e *domain.ComputeWorkCompleted) {
	if e.ClientSignature == "" || l.ComputeClients[e.Client] == nil {
		return
	}
	if l.computeUsed == nil {
		l.computeUsed = map[clientNode]domain.USD{}
	}
	k := clientNode{e.Client, e.NodeID}
	sum, ok := domain.AddUSD(l.computeUsed[k], e.USD)
	if !ok {
		sum = domain.USD{} // unreachable past Check (caps < 2^128); keep Apply total
	}
	l.computeUsed[k] = sum
}

// snapComputeClient and snapAttested are the checkpoint form.
type snapComputeClient struct {
	ID                 string          `json:"id"`
	Pubkey             string          `json:"pubkey"`
	MaxUSDPerTask      domain.USD      `json:"max_usd_per_task"`
	MaxUSDPerNodeEpoch domain.USD      `json:"max_usd_per_node_epoch"`
	Registered         uint64          `json:"registered"`
	Keys               []snapClientKey `json:"keys"`
}

type snapClientKey struct {
	Key      string `json:"key"`
	Position uint64 `json:"position"`
}

type snapAttested struct {
	Client string     `json:"client"`
	Node   string     `json:"node"`
	USD    domain.USD `json:"usd"`
}

func (l *Ledger) snapCompute() ([]snapComputeClient, []snapAttested) {
	var cs []snapComputeClient
	for _, id := range sortedKeys(l.ComputeClients) {
		c := l.ComputeClients[id]
		sc := snapComputeClient{ID: c.ID, Pubkey: c.Pubkey, MaxUSDPerTask: c.MaxUSDPerTask, MaxUSDPerNodeEpoch: c.MaxUSDPerNodeEpoch, Registered: c.Registered}
		for _, k := range c.keys {
			sc.Keys = append(sc.Keys, snapClientKey{k.key, k.pos})
		}
		cs = append(cs, sc)
	}
	var used []snapAttested
	for k, u := range l.computeUsed {
		used = append(used, snapAttested{k.client, k.node, u})
	}
	sort.Slice(used, func(i, j int) bool {
		if used[i].Client != used[j].Client {
			return used[i].Client < used[j].Client
		}
		return used[i].Node < used[j].Node
	})
	return cs, used
}

func (l *Ledger) restoreCompute(cs []snapComputeClient, used []snapAttested) {
	for _, sc := range cs {
		if l.ComputeClients == nil {
			l.ComputeClients = map[string]*ComputeClient{}
		}
		c := &ComputeClient{ID: sc.ID, Pubkey: sc.Pubkey, MaxUSDPerTask: sc.MaxUSDPerTask, MaxUSDPerNodeEpoch: sc.MaxUSDPerNodeEpoch, Registered: sc.Registered}
		for _, k := range sc.Keys {
			c.keys = append(c.keys, clientKey{k.Key, k.Position})
		}
		l.ComputeClients[c.ID] = c
	}
	for _, u := range used {
		if l.computeUsed == nil {
			l.computeUsed = map[clientNode]domain.USD{}
		}
		l.computeUsed[clientNode{u.Client, u.Node}] = u.USD
	}
	l.reindexKeys()
}
