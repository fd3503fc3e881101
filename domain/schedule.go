package domain

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
)

// Reward channels (DESIGN "Reward channels and the emission schedule
// (v2)"). Each channel is an exact amount of base units split by its own
// rule; an operator's allocation is the sum of its channels. A channel added
// later goes at the end of knownChannels and must not change any earlier
// epoch.
const (
	// ChannelJob is split by work value (Allocate).
	ChannelJob = "job"
	// ChannelAvailability is split by availability points (RNP-015,
	// AvailabilityPoints).
	ChannelAvailability = "availability"
)

// knownChannels is the order in which channels are allocated and listed.
var knownChannels = [...]string{ChannelJob, ChannelAvailability}

// KnownChannels returns the channel names in their fixed order.
func KnownChannels() []string { return append([]string(nil), knownChannels[:]...) }

// IsKnownChannel reports whether name is a channel of the catalogue.
func IsKnownChannel(name string) bool {
	for _, c := range knownChannels {
		if c == name {
			return true
		}
	}
	return false
}

// SortChannels returns the names of m in the fixed channel order (unknown
// names, which validation refuses, last in byte order).
func SortChannels[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for _, c := range knownChannels {
		if _, ok := m[c]; ok {
			out = append(out, c)
		}
	}
	var rest []string
	for k := range m {
		if !IsKnownChannel(k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

const (
	ruleChannel    = "is not a known channel (known: job, availability)"
	ruleChannels   = "must name at least one channel"
	ruleRNP        = "must be 1 to 128 printable bytes without whitespace (e.g. \"RNP-013\")"
	ruleVRAM       = "must be an integer from 1 to 4096 (GB)"
	channelsPrefix = "channels."
)

// MaxVRAMGB is the largest vram_gb a NodeRegistered may state.
const MaxVRAMGB = 4096

// TypeEmissionScheduleSet records, from an epoch on, the amount of each
// reward channel per epoch, as decided by governance (an RNP).
const TypeEmissionScheduleSet = "EmissionScheduleSet"

// RenderAmount is an amount of base units written as RENDER decimal text
// in JSON ("15000", "2884.61538"): the form governance publishes.
type RenderAmount BaseUnits

// MarshalJSON writes the amount as a JSON string of RENDER.
func (a RenderAmount) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, BaseUnits(a).RenderString()), nil
}

// EmissionScheduleSet is one governance decision: from effective_epoch on
// (until a later schedule takes over) each epoch pays the channels'
// amounts. The schedule in force for epoch N is the stored one with the
// greatest effective_epoch ≤ N; of equal ones, the later stored.
type EmissionScheduleSet struct {
	RNP            string                  `json:"rnp"`
	EffectiveEpoch uint64                  `json:"effective_epoch"`
	Channels       map[string]RenderAmount `json:"channels"`
}

// EventType implements Event.
func (*EmissionScheduleSet) EventType() string { return TypeEmissionScheduleSet }

// Amounts returns the channels in base units.
func (e *EmissionScheduleSet) Amounts() map[string]BaseUnits {
	m := make(map[string]BaseUnits, len(e.Channels))
	for k, v := range e.Channels {
		m[k] = BaseUnits(v)
	}
	return m
}

// Validate checks the stateless rules of EmissionScheduleSet. That it is
// not retroactive needs the log: the command layer checks it.
func (e *EmissionScheduleSet) Validate() error {
	c := checker{event: TypeEmissionScheduleSet}
	c.check(validID(e.RNP), "rnp", ruleRNP)
	c.check(e.EffectiveEpoch >= 1, "effective_epoch", ruleEpoch)
	c.check(len(e.Channels) > 0, "channels", ruleChannels)
	if c.err == nil {
		var sum BaseUnits
		for _, name := range SortChannels(e.Channels) {
			if !IsKnownChannel(name) {
				c.fail(channelsPrefix+name, ruleChannel)
				break
			}
			var ok bool
			if sum, ok = AddBaseUnits(sum, BaseUnits(e.Channels[name])); !ok {
				c.fail(channelsPrefix+name, "the channels' sum exceeds the range of base units")
				break
			}
		}
	}
	return c.result()
}

// emissionScheduleSetFields are EmissionScheduleSet's members in catalogue order.
var emissionScheduleSetFields = fieldsOf(
	required("rnp", func(d *decoder, e *EmissionScheduleSet, v jsonValue) { e.RNP = d.str(v) }),
	required("effective_epoch", func(d *decoder, e *EmissionScheduleSet, v jsonValue) { e.EffectiveEpoch = d.uint(v) }),
	required("channels", func(d *decoder, e *EmissionScheduleSet, v jsonValue) {
		m := d.channels(v, d.render)
		e.Channels = make(map[string]RenderAmount, len(m))
		for k, a := range m {
			e.Channels[k] = RenderAmount(a)
		}
	}),
)

// ChannelsSum returns the sum of channel amounts and false on overflow.
func ChannelsSum(m map[string]BaseUnits) (BaseUnits, bool) {
	var sum BaseUnits
	for _, v := range m {
		var ok bool
		if sum, ok = AddBaseUnits(sum, v); !ok {
			return 0, false
		}
	}
	return sum, true
}

// FormatChannels writes channel amounts as `job=… availability=…` in the
// fixed order, for error messages.
func FormatChannels(m map[string]BaseUnits) string {
	var b strings.Builder
	for i, k := range SortChannels(m) {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + m[k].String())
	}
	return b.String()
}

// epochChannels checks the stateless part of EpochClosed's channels:
// known names, at least one, emission = their sum.
func (c *checker) epochChannels(emission BaseUnits, ch map[string]BaseUnits) {
	if ch == nil {
		return
	}
	if len(ch) == 0 {
		c.fail("channels", ruleChannels)
		return
	}
	for _, name := range SortChannels(ch) {
		if !IsKnownChannel(name) {
			c.fail(channelsPrefix+name, ruleChannel)
			return
		}
	}
	sum, ok := ChannelsSum(ch)
	switch {
	case !ok:
		c.fail("channels", "the channels' sum exceeds the range of base units")
	case sum != emission:
		c.fail("emission", "must equal the sum of channels = "+sum.String()+" base units")
	}
}

// decodeChannels decodes an object of channel → amount; amount reads one
// member's value. Members are named channels.<name> in errors.
func (d *decoder) channels(v jsonValue, amount func(jsonValue) BaseUnits) map[string]BaseUnits {
	if v.kind != kindObject {
		d.fail(ruleObject)
		return nil
	}
	m := map[string]BaseUnits{}
	base := d.field
	_ = forEachMemberOf(v, func(key []byte, mv jsonValue) error {
		d.field = base + "." + string(key)
		if !IsKnownChannel(string(key)) {
			d.fail(ruleChannel)
			return errStop
		}
		m[string(bytes.Clone(key))] = amount(mv)
		if d.err != nil {
			return errStop
		}
		return nil
	})
	if d.err == nil {
		d.field = base
	}
	return m
}

// render reads a RENDER amount in decimal text (≤ 8 places) as base units.
func (d *decoder) render(v jsonValue) BaseUnits {
	hi, lo := d.decimal(v, RenderDecimals)
	if d.err == nil && hi != 0 {
		d.fail(decRange.rule(0))
	}
	return BaseUnits(lo)
}
