package projections

import (
	"github.com/epochledger/epochledger/domain"
)

// SupplyCap is the total-supply cap that Check holds the emissions of all
// epochs to (Config.SupplyCap, by default domain.MaxSupply).
func (l *Ledger) SupplyCap() domain.BaseUnits {
	if l.cfg.SupplyCap == 0 {
		return domain.MaxSupply
	}
	return l.cfg.SupplyCap
}

// SetSupplyCap sets the cap of later Checks (0: domain.MaxSupply). It is
// configuration, not state: a checkpoint does not keep it.
func (l *Ledger) SetSupplyCap(c domain.BaseUnits) { l.cfg.SupplyCap = c }

// Emitted returns the emissions of the closed epochs summed, and false if
// the sum exceeds the range of base units (a log the checks never passed).
func (l *Ledger) Emitted() (domain.BaseUnits, bool) {
	var sum domain.BaseUnits
	for _, ep := range l.Epochs {
		if !ep.Closed {
			continue
		}
		var ok bool
		if sum, ok = domain.AddBaseUnits(sum, ep.Emission); !ok {
			return 0, false
		}
	}
	return sum, true
}

// checkEmission bounds an EpochClosed's emission: the emissions of every
// epoch so far and this one may not exceed the total-supply cap. Because
// every balance, plan and supply figure is a part of those emissions, no
// sum of base units can wrap past it.
func (l *Ledger) checkEmission(e *domain.EpochClosed) error {
	limit := l.SupplyCap()
	before, ok := l.Emitted()
	after, ok2 := domain.AddBaseUnits(before, e.Emission)
	if !ok || !ok2 || after > limit {
		return refuse(e, "emission", "%s base units would bring the emissions of epochs 1..%d to more than the total-supply cap of %s base units (%s RENDER, --supply-cap); %s are emitted already, so at most %s may be",
			e.Emission, e.Epoch, limit, limit.RenderString(), before, subFloor(limit, before))
	}
	return nil
}

func subFloor(a, b domain.BaseUnits) domain.BaseUnits {
	if b > a {
		return 0
	}
	return a - b
}

// checkBurn refuses a burn that would take the burned total past the range
// of base units.
func (l *Ledger) checkBurn(e *domain.BurnRecorded) error {
	if _, ok := domain.AddBaseUnits(l.Burned, e.Burned); !ok {
		return refuse(e, "burned", "%s base units would take the total burned (%s) past the range of base units", e.Burned, l.Burned)
	}
	return nil
}

// checkBridge bounds the RENDER bridged in all by the total-supply cap:
// no conversion can yield more RENDER than can exist.
func (l *Ledger) checkBridge(e *domain.BridgeConverted) error {
	limit := l.SupplyCap()
	if sum, ok := domain.AddBaseUnits(l.Bridge.Render, e.Render); !ok || sum > limit {
		return refuse(e, "render", "%s base units would bring the RENDER bridged in all to more than the total-supply cap of %s base units (%s bridged already)", e.Render, limit, l.Bridge.Render)
	}
	return nil
}

// anomaly records a stored event the fold skips because folding it would
// break an invariant (a sum past the range of base units): only a log the
// command layer's checks never passed holds one.
func (l *Ledger) anomaly(pos uint64, ev domain.Event, msg string) {
	l.AnomalyCount++
	if len(l.Anomalies) < maxAnomalies {
		l.Anomalies = append(l.Anomalies, Anomaly{Position: pos, Type: ev.EventType(), Error: msg})
	}
}
