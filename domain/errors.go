package domain

import (
	"errors"
	"strconv"
)

// ErrInvalid is matched (errors.Is) by every *ValidationError: an envelope
// or event that breaks a rule of the design and must be refused.
var ErrInvalid = errors.New("domain: invalid event")

// ErrBadSignature is wrapped by every error of VerifySig and VerifyProof:
// a signature that does not verify against the key and message.
var ErrBadSignature = errors.New("domain: signature does not verify")

// EnvelopeSubject is the Event of a *ValidationError about the envelope
// rather than the data of an event.
const EnvelopeSubject = "envelope"

// ValidationError is a refusal that names the event type (or "envelope"),
// the field and the rule broken, e.g.
//
//	FrameRendered: field "output_hash": must be 64 lowercase hex characters (sha256)
//
// Field is empty when the error concerns the input as a whole (malformed
// JSON). Nested fields are written as paths: payouts[2].amount.
type ValidationError struct {
	Event string
	Field string
	Rule  string
}

func (e *ValidationError) Error() string {
	subject := e.Event
	if subject == "" {
		subject = "event"
	}
	if e.Field == "" {
		return subject + ": " + e.Rule
	}
	return subject + ": field " + strconv.Quote(e.Field) + ": " + e.Rule
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

func invalid(event, field, rule string) *ValidationError {
	return &ValidationError{Event: event, Field: field, Rule: rule}
}
