package domain

import (
	"crypto/ed25519"
	"fmt"
	"strconv"

	"github.com/mr-tron/base58"
)

// Prefixes of the canonical signed messages. The version is part of the
// message so a signature of one kind can never pass for another.
const (
	ProofPrefix        = "epochledger-proof-v1"
	ComputeProofPrefix = "epochledger-compute-v1"
)

// ProofMessage returns the canonical message a node signs for a rendered
// frame, the bytes of
//
//	epochledger-proof-v1\n<job_id>\n<frame>\n<node_id>\n<output_hash>\n<duration_ms>
//
// with frame and duration_ms in decimal and no trailing newline. Ids cannot
// hold a newline (see the id rule), so the message is unambiguous.
func ProofMessage(jobID string, frame uint32, nodeID, outputHash string, durationMS uint64) []byte {
	b := make([]byte, 0, len(ProofPrefix)+len(jobID)+len(nodeID)+len(outputHash)+40)
	b = append(b, ProofPrefix...)
	b = append(b, '\n')
	b = append(b, jobID...)
	b = append(b, '\n')
	b = strconv.AppendUint(b, uint64(frame), 10)
	b = append(b, '\n')
	b = append(b, nodeID...)
	b = append(b, '\n')
	b = append(b, outputHash...)
	b = append(b, '\n')
	return strconv.AppendUint(b, durationMS, 10)
}

// ComputeProofMessage returns the canonical message a node signs for
// compute-client work, the bytes of
//
//	epochledger-compute-v1\n<task_id>\n<node_id>\n<client>\n<output_hash>\n<duration_ms>\n<usd>
//
// where usd is written in its canonical form, USD.String() ("12.5", never
// "12.50" or an exponent), so the signer and the verifier agree whatever
// spelling the event's JSON used.
func ComputeProofMessage(taskID, nodeID, client, outputHash string, durationMS uint64, usd USD) []byte {
	return computeMessage(ComputeProofPrefix, taskID, nodeID, client, outputHash, durationMS, usd)
}

// computeMessage is the one layout of the node's and the client's compute
// messages: prefix, then task, node, client, output hash, duration and usd
// on lines of their own.
func computeMessage(prefix, taskID, nodeID, client, outputHash string, durationMS uint64, usd USD) []byte {
	u := usd.String()
	b := make([]byte, 0, len(prefix)+len(taskID)+len(nodeID)+len(client)+len(outputHash)+len(u)+32)
	b = append(b, prefix...)
	for _, s := range [...]string{taskID, nodeID, client, outputHash} {
		b = append(b, '\n')
		b = append(b, s...)
	}
	b = append(b, '\n')
	b = strconv.AppendUint(b, durationMS, 10)
	b = append(b, '\n')
	return append(b, u...)
}

// SignProof signs msg with a node key and returns the base58 signature.
func SignProof(key ed25519.PrivateKey, msg []byte) string {
	return base58.Encode(ed25519.Sign(key, msg))
}

// VerifySig checks the base58 ed25519 signature sigB58 of msg against
// pub, the one signature check of the ledger (proofs, compute clients),
// the coordinator's request authentication and the load generator. Every
// failure wraps ErrBadSignature and says which it is: a key that is not
// 32 bytes, a signature that is not base58 of 64 bytes, or one that does
// not verify (ErrBadSignature itself). Decoding the signature allocates
// nothing.
func VerifySig(pub ed25519.PublicKey, msg []byte, sigB58 string) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key is %d bytes, not %d", ErrBadSignature, len(pub), ed25519.PublicKeySize)
	}
	var sig [ed25519.SignatureSize]byte
	if !plausibleBase58Len(sigB58, len(sig)) || !decodeBase58Into(sigB58, sig[:]) {
		return errSigNotBase58
	}
	if !ed25519.Verify(pub, msg, sig[:]) {
		return ErrBadSignature
	}
	return nil
}

var errSigNotBase58 = fmt.Errorf("%w: signature is not base58 of 64 bytes", ErrBadSignature)

// VerifyProof is VerifySig with the public key in base58 (as a log
// records it: node_pubkey, client_pubkey).
func VerifyProof(pubkeyBase58 string, msg []byte, sigBase58 string) error {
	pub, ok := decodeBase58N(pubkeyBase58, ed25519.PublicKeySize)
	if !ok {
		return fmt.Errorf("%w: public key is not base58 of 32 bytes", ErrBadSignature)
	}
	return VerifySig(pub, msg, sigBase58)
}
