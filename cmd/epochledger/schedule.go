package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/epochledger/epochledger/domain"
)

// readScheduleFile reads serve --schedule FILE: a JSON list of
// EmissionScheduleSet data, each decoded and validated as import would
// ({"rnp":"RNP-013","effective_epoch":25,"channels":{"job":"15000"}}).
func readScheduleFile(path string) ([]domain.EmissionScheduleSet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("schedule %s: want a JSON list of EmissionScheduleSet data: %v", path, err)
	}
	out := make([]domain.EmissionScheduleSet, 0, len(raw))
	for i, r := range raw {
		ev, err := domain.DecodeEvent(domain.TypeEmissionScheduleSet, r)
		if err != nil {
			return nil, fmt.Errorf("schedule %s: entry %d: %w", path, i+1, err)
		}
		out = append(out, *ev.(*domain.EmissionScheduleSet))
	}
	return out, nil
}
