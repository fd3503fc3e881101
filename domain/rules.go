package domain

import (
	"encoding/hex"
	"errors"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of the stateless rules.
const (
	MaxIDLen      = 128                    // node_id, operator_id, job_id, task_id, artist, client
	MaxTextLen    = 1024                   // gpu, reason
	MaxFrames     = 1_000_000              // frames of one job
	MaxDurationMS = 7 * 24 * MillisPerHour // duration_ms: 7 days
	MaxLeases     = 65536                  // max_leases of FrameAssigned
	MaxWeiDigits  = 78                     // rndr_wei fits 256 bits
)

// The rules as they read in a *ValidationError.
const (
	ruleRequired    = "required"
	ruleUnknown     = "unknown field"
	ruleString      = "must be a string"
	ruleInteger     = "must be a non-negative JSON integer"
	ruleObject      = "must be a JSON object"
	ruleArray       = "must be a JSON array"
	ruleID          = "must be 1 to 128 printable bytes without whitespace"
	ruleText        = "must be 1 to 1024 bytes without control characters"
	rulePubkey      = "must be base58 of a 32-byte ed25519 public key"
	ruleWallet      = "must be a base58 Solana address (32 bytes)"
	ruleBlockhash   = "must be base58 of a 32-byte blockhash"
	ruleSignature   = "must be base58 of a 64-byte ed25519 signature"
	ruleTxSignature = "must be base58 of a 64-byte Solana transaction signature"
	ruleSHA256      = "must be 64 lowercase hex characters (sha256)"
	ruleRoot        = "must be 64 lowercase hex characters (Merkle root)"
	ruleLogHead     = "must be 64 lowercase hex characters (the log's chain hash at plan time), or left out"
	ruleEthAddress  = "must be 0x followed by 40 hex characters"
	ruleEthTx       = "must be 0x followed by 64 hex characters"
	ruleTime        = "must be an RFC 3339 time"
	rulePositive    = "must be greater than 0"
	ruleEpoch       = "must be at least 1"
	ruleFrames      = "must be between 1 and 1000000"
	ruleMaxLeases   = "must be at most 65536 (0 or absent: not recorded)"
	ruleFrame       = "must be between 0 and 999999"
	ruleDuration    = "must be between 1 and 604800000 (7 days in ms)"
	ruleWei         = "must be a decimal integer string of wei without sign or leading zeros (at most 78 digits)"
)

// validID reports whether s is a valid identifier: 1..128 bytes of valid
// UTF-8, printable, no whitespace. Ids end up in proof messages and Merkle
// leaves, where a newline or NUL would make two inputs collide.
func validID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return validIDSlow(s[i:])
		}
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

func validIDSlow(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// validText reports whether s is 1..MaxTextLen bytes without control
// characters (spaces allowed).
func validText(s string) bool {
	if len(s) == 0 || len(s) > MaxTextLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// decodeBase58N decodes s and reports whether it holds exactly n bytes
// (n ≤ 64).
func decodeBase58N(s string, n int) ([]byte, bool) {
	if !plausibleBase58Len(s, n) {
		return nil, false
	}
	out := make([]byte, n)
	if !decodeBase58Into(s, out) {
		return nil, false
	}
	return out, true
}

// validBase58N is decodeBase58N without keeping the bytes (no allocation).
func validBase58N(s string, n int) bool {
	var buf [64]byte
	return n <= len(buf) && plausibleBase58Len(s, n) && decodeBase58Into(s, buf[:n])
}

// plausibleBase58Len: a base58 text of n bytes has at most ceil(n ×
// log(256)/log(58)) ≤ 1.37n characters; refusing longer input early bounds
// the work.
func plausibleBase58Len(s string, n int) bool { return len(s) != 0 && len(s) <= n*14/10+1 }

// ParseWallet decodes a base58 Solana address. Any 32 bytes are accepted,
// off-curve addresses (program-derived, multisig vaults) included.
func ParseWallet(s string) ([32]byte, error) {
	var a [32]byte
	b, ok := decodeBase58N(s, 32)
	if !ok {
		return a, errors.New("domain: wallet " + strconv.Quote(s) + ": " + ruleWallet)
	}
	copy(a[:], b)
	return a, nil
}

// ParseHash decodes 64 lowercase hex characters into 32 bytes (output_hash,
// scene_hash, provenance_root, root).
func ParseHash(s string) ([32]byte, error) {
	var h [32]byte
	if !validHash(s) {
		return h, errors.New("domain: hash " + strconv.Quote(s) + ": " + ruleSHA256)
	}
	_, _ = hex.Decode(h[:], []byte(s))
	return h, nil
}

// HashHex returns h as 64 lowercase hex characters.
func HashHex(h [32]byte) string { return hex.EncodeToString(h[:]) }

// validHash: 64 lowercase hex characters. Uppercase is refused so that one
// hash has one spelling in the log.
func validHash(s string) bool {
	return len(s) == 64 && isHex(s, false)
}

func isHex(s string, upperOK bool) bool {
	// One table load per character: replays check millions of hashes.
	want := hexLower
	if upperOK {
		want = hexLower | hexUpper
	}
	for i := 0; i < len(s); i++ {
		if hexClass[s[i]]&want == 0 {
			return false
		}
	}
	return true
}

const (
	hexLower uint8 = 1 << iota // 0-9 a-f
	hexUpper                   // A-F
)

var hexClass = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = hexLower
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = hexLower
	}
	for c := 'A'; c <= 'F'; c++ {
		t[c] = hexUpper
	}
	return t
}()

// validEthHex: "0x" followed by n hex digits of either case (EIP-55 mixed
// case addresses are the usual spelling; the checksum is not verified).
func validEthHex(s string, n int) bool {
	return len(s) == 2+n && s[0] == '0' && s[1] == 'x' && isHex(s[2:], true)
}

func validTime(s string) bool {
	if len(s) > 64 {
		return false
	}
	_, err := time.Parse(time.RFC3339, s)
	return err == nil
}

// validWei: a decimal integer, no sign, no leading zeros, ≤ 78 digits.
func validWei(s string) bool {
	if len(s) == 0 || len(s) > MaxWeiDigits || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
