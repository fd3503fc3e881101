package coordinator

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/workers/api"
)

// Default caps of `serve --compute-client` registrations, in USD: what a
// client may attest for one task, and for one node in one epoch (about a
// week of a top data-centre GPU at $6 an hour). Configuration, not rules:
// the caps in force are those recorded in the log.
const (
	DefaultComputeMaxUSDPerTask      = "100"
	DefaultComputeMaxUSDPerNodeEpoch = "1000"
)

// ComputeClient is a compute client the coordinator registers: its id
// (what a ComputeWorkCompleted names in client), its ed25519 key (base58)
// and the caps on what it may attest, in USD.
type ComputeClient struct {
	ID                 string
	Pubkey             string
	MaxUSDPerTask      domain.USD
	MaxUSDPerNodeEpoch domain.USD
}

// event is the registration the client's configuration stands for.
func (c *ComputeClient) event() *domain.ComputeClientRegistered {
	return &domain.ComputeClientRegistered{ClientID: c.ID, ClientPubkey: c.Pubkey, MaxUSDPerTask: c.MaxUSDPerTask, MaxUSDPerNodeEpoch: c.MaxUSDPerNodeEpoch}
}

func validateComputeClients(cs []ComputeClient) error {
	seen := map[string]bool{}
	for i := range cs {
		c := &cs[i]
		if seen[c.ID] {
			return fmt.Errorf("coordinator: compute client %q is configured twice", c.ID)
		}
		seen[c.ID] = true
		if err := c.event().Validate(); err != nil {
			return fmt.Errorf("coordinator: compute client %q: %w", c.ID, err)
		}
		if rule := domain.CheckPublicKey(c.Pubkey); rule != "" {
			return fmt.Errorf("coordinator: compute client %q: key %s %s", c.ID, c.Pubkey, rule)
		}
	}
	return nil
}

// registerComputeClients appends a ComputeClientRegistered for every
// configured client the log does not hold with the same key and caps, so
// that the caps in force are the configuration's and an auditor reads
// them from the log.
func (s *Server) registerComputeClients(ctx context.Context) error {
	for i := range s.opts.ComputeClients {
		c := &s.opts.ComputeClients[i]
		ev := c.event()
		t := &eventTxn{waiter: newWaiter(), build: func(r *round) (string, string, domain.Event, *api.EventResponse, error) {
			if !r.claimKey("client:"+ev.ClientID) || !r.claimKey("key:"+ev.ClientPubkey) {
				return "", "", nil, nil, errDefer
			}
			if have := s.ledger.ComputeClients[ev.ClientID]; have != nil && have.Pubkey == ev.ClientPubkey &&
				have.MaxUSDPerTask == ev.MaxUSDPerTask && have.MaxUSDPerNodeEpoch == ev.MaxUSDPerNodeEpoch {
				return "", "", nil, &api.EventResponse{Type: domain.TypeComputeClientRegistered, Position: have.Registered, Duplicate: true}, nil
			}
			if err := s.ledger.Check(r.nowText, ev); err != nil {
				return "", "", nil, nil, refusal(err)
			}
			// The position makes a change back to earlier caps a new event.
			id := derivedID("ComputeClientRegistered", ev.ClientID, ev.ClientPubkey, ev.MaxUSDPerTask.String(), ev.MaxUSDPerNodeEpoch.String(), strconv.FormatUint(s.ledger.Position, 10))
			return id, "client-" + ev.ClientID, ev, nil, nil
		}}
		if err := s.submit(ctx, t, &t.waiter); err != nil {
			return fmt.Errorf("coordinator: register compute client %q: %w", c.ID, err)
		}
		if !t.resp.Duplicate {
			s.log.Info("compute client registered", "client", c.ID, "position", t.resp.Position,
				"max_usd_per_task", c.MaxUSDPerTask.String(), "max_usd_per_node_epoch", c.MaxUSDPerNodeEpoch.String())
		}
	}
	return nil
}

// requireAttestation is the coordinator's side of the compute-client
// rule: it never stores compute work of the old form (no client
// signature), whether or not the log has a client registered yet. The
// ledger's Check verifies the signature and the caps.
func requireAttestation(ev *domain.ComputeWorkCompleted) error {
	if ev.ClientSignature == "" {
		return apiErr(http.StatusUnprocessableEntity, api.CodeInvalid,
			"%s: field \"client_signature\": required: compute work is worth what its registered compute client attests; client %q must sign %s",
			domain.TypeComputeWorkCompleted, ev.Client, "(task, node, duration, usd, output hash)")
	}
	return nil
}

// attestKey names the (client, node) pair whose per-epoch cap a report
// draws on.
func attestKey(ev *domain.ComputeWorkCompleted) string {
	return "attest:" + ev.Client + "\x00" + ev.NodeID
}
