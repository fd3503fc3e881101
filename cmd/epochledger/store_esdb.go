package main

import (
	"context"
	"fmt"

	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/eventstore/esdb"
)

// openESDB connects to an EventStoreDB / KurrentDB server or cluster.
func openESDB(ctx context.Context, url string) (eventstore.Store, error) {
	s, err := esdb.Open(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", esdb.Redact(url), err)
	}
	return s, nil
}

// verifyESDB checks the chain checkpoints of an EventStoreDB log.
func verifyESDB(ctx context.Context, e *env, sf *storeFlags) error {
	return fmt.Errorf("verify: chain verification on %s is wired in with the esdb backend", esdb.Redact(sf.store))
}
