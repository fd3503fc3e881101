package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/epochledger/epochledger/domain"
	"github.com/epochledger/epochledger/eventstore"
	"github.com/epochledger/epochledger/internal/durable"
)

// A closed epoch never changes: later events land in later epochs. The
// epoch archive keeps each closed epoch's shares document with the
// position and id of its EpochClosed, so `shares --epoch N` for a closed
// epoch is answered without folding the log: one read of the archive and
// one read of the log at that position, to make sure the archive belongs to
// this log. File format (JSON):
//
// Version 2: shares documents carry reward channels; an archive of
// version 1 (without them) is refused and the epochs folded again.
//
//	{"version":2,"epochs":{"1":{"closed_at":P,"closed_id":"<uuid>","shares":{…SharesDoc…}},…},
//	 "uses_channels":true,"position":P}
//
// An archive without uses_channels is used only while no event after its
// position names reward channels; one without position is folded again.

const archiveVersion = 2

// Archive holds closed epochs' shares documents.
type Archive struct {
	Version int                       `json:"version"`
	Epochs  map[uint64]*ArchivedEpoch `json:"epochs"`
	// UsesChannels: the documents were made from a log that names reward
	// channels (Ledger.UsesChannels), so they list them. An archive whose
	// flag differs from the ledger's is stale and rewritten.
	UsesChannels bool `json:"uses_channels,omitempty"`
	// Position is the log position the archive was made at. An archive
	// without channels answers only while no event after it names
	// channels: the first schedule changes the form of every document.
	Position uint64 `json:"position,omitempty"`
}

// ArchivedEpoch is one closed epoch in the archive.
type ArchivedEpoch struct {
	ClosedAt uint64     `json:"closed_at"`
	ClosedID string     `json:"closed_id"`
	Shares   *SharesDoc `json:"shares"`
}

// Archive returns the archive of every closed epoch of the ledger. ids
// gives the id of the event at a position (the EpochClosed events').
func (l *Ledger) Archive(ctx context.Context, r Reader) (*Archive, error) {
	a := &Archive{Version: archiveVersion, Epochs: map[uint64]*ArchivedEpoch{}, UsesChannels: l.UsesChannels(), Position: l.Position}
	for _, ep := range l.Epochs {
		if !ep.Closed {
			continue
		}
		doc, _, err := l.Shares(ep.N)
		if err != nil {
			return nil, err
		}
		id, err := idAt(ctx, r, ep.ClosedAt)
		if err != nil {
			return nil, err
		}
		a.Epochs[ep.N] = &ArchivedEpoch{ClosedAt: ep.ClosedAt, ClosedID: id, Shares: doc}
	}
	return a, nil
}

func idAt(ctx context.Context, r Reader, pos uint64) (string, error) {
	id := ""
	err := r.ReadAll(ctx, pos, func(e *eventstore.RecordedEvent) error {
		if e.Position == pos {
			id = e.ID
		}
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return "", err
	}
	return id, nil
}

// Write saves the archive durably (temporary file, fsync, rename).
func (a *Archive) Write(path string) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return durable.WriteFile(path, b)
}

// ReadArchive loads an archive; a missing or unreadable file is an error
// the caller answers by folding the log.
func ReadArchive(path string) (*Archive, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var a Archive
	if err := json.Unmarshal(b, &a); err != nil || a.Version != archiveVersion {
		return nil, fmt.Errorf("%w: epoch archive %s", ErrBadCheckpoint, path)
	}
	return &a, nil
}

// Shares returns the archived shares of epoch n if the archive has it and
// the log holds the same EpochClosed at the same position.
func (a *Archive) Shares(ctx context.Context, r Reader, n uint64) (*SharesDoc, bool) {
	e := a.Epochs[n]
	if e == nil || e.Shares == nil {
		return nil, false
	}
	id, err := idAt(ctx, r, e.ClosedAt)
	if err != nil || id != e.ClosedID {
		return nil, false
	}
	if !a.UsesChannels {
		if a.Position == 0 {
			return nil, false // made before positions were kept: fold
		}
		if named, err := namesChannelsAfter(ctx, r, a.Position); err != nil || named {
			return nil, false
		}
	}
	return e.Shares, true
}

// namesChannelsAfter reports whether an event after position pos names
// reward channels (an EmissionScheduleSet, or an EpochClosed with
// channels), which turns the log into one whose documents list them.
func namesChannelsAfter(ctx context.Context, r Reader, pos uint64) (bool, error) {
	named := false
	err := r.ReadAll(ctx, pos+1, func(e *eventstore.RecordedEvent) error {
		switch e.Type {
		case domain.TypeEmissionScheduleSet:
			named = true
		case domain.TypeEpochClosed:
			ev, err := domain.DecodeEvent(e.Type, e.Data)
			if ec, ok := ev.(*domain.EpochClosed); err != nil || (ok && ec.Channels != nil) {
				named = true // an event it cannot read: let the fold judge
			}
		}
		if named {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return false, err
	}
	return named, nil
}
