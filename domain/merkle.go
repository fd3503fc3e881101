package domain

import (
	"crypto/sha256"
)

// Merkle trees of epochledger (settlement roots and provenance roots):
//
//	leaf   = given 32 bytes (PayoutLeaf, ProvenanceLeaf)
//	parent = sha256(0x01 || left || right)
//
// Each level pairs nodes left to right; the odd last node of a level is
// promoted unchanged to the next level. The root of one leaf is that leaf;
// the root of no leaves is 32 zero bytes. Proofs are verified against the
// leaf count as well as the root, which fixes the tree's shape: an inner
// node cannot be passed off as a leaf of a shorter tree.

// MerkleRoot returns the root over leaves; leaves is not modified.
func MerkleRoot(leaves [][32]byte) [32]byte {
	switch len(leaves) {
	case 0:
		return [32]byte{}
	case 1:
		return leaves[0]
	}
	level := make([][32]byte, (len(leaves)+1)/2)
	n := reduceLevel(level, leaves)
	for n > 1 {
		n = reduceLevel(level, level[:n])
	}
	return level[0]
}

// reduceLevel writes the parent level of src into dst (dst may alias src:
// parent i is written after children 2i and 2i+1 are read) and returns its
// length.
func reduceLevel(dst, src [][32]byte) int {
	var buf [65]byte
	buf[0] = 0x01
	n := 0
	for i := 0; i+1 < len(src); i += 2 {
		copy(buf[1:33], src[i][:])
		copy(buf[33:], src[i+1][:])
		dst[n] = sha256.Sum256(buf[:])
		n++
	}
	if len(src)%2 == 1 {
		dst[n] = src[len(src)-1]
		n++
	}
	return n
}

func hashPair(l, r *[32]byte) [32]byte {
	var buf [65]byte
	buf[0] = 0x01
	copy(buf[1:33], l[:])
	copy(buf[33:], r[:])
	return sha256.Sum256(buf[:])
}

// MerkleProof returns the sibling hashes from the leaf at index up to the
// root, skipping levels where the node is promoted without a sibling. It
// panics if index is out of range.
func MerkleProof(leaves [][32]byte, index int) [][32]byte {
	if index < 0 || index >= len(leaves) {
		panic("domain: MerkleProof: index out of range")
	}
	var proof [][32]byte
	level := append([][32]byte(nil), leaves...)
	for len(level) > 1 {
		sib := index ^ 1
		if sib < len(level) {
			proof = append(proof, level[sib])
		}
		level = level[:reduceLevel(level, level)]
		index /= 2
	}
	return proof
}

// VerifyMerkleProof reports whether proof shows leaf at index in a tree of
// count leaves with the given root.
func VerifyMerkleProof(leaf [32]byte, index, count int, proof [][32]byte, root [32]byte) bool {
	if index < 0 || index >= count {
		return false
	}
	node := leaf
	for n := count; n > 1; n = (n + 1) / 2 {
		if index^1 < n { // has a sibling at this level
			if len(proof) == 0 {
				return false
			}
			if index%2 == 0 {
				node = hashPair(&node, &proof[0])
			} else {
				node = hashPair(&proof[0], &node)
			}
			proof = proof[1:]
		}
		index /= 2
	}
	return len(proof) == 0 && node == root
}

// ProvenanceLeaf returns the provenance leaf of an accepted frame: the 32
// bytes of its output hash (64 lowercase hex characters). A job's
// provenance_root is MerkleRoot over the leaves of its accepted frames
// ordered by frame number.
func ProvenanceLeaf(outputHash string) ([32]byte, error) { return ParseHash(outputHash) }

// ProvenanceRoot returns MerkleRoot over the output hashes given, which must
// be those of a job's accepted frames in frame order.
func ProvenanceRoot(outputHashes []string) ([32]byte, error) {
	leaves := make([][32]byte, len(outputHashes))
	for i, h := range outputHashes {
		l, err := ProvenanceLeaf(h)
		if err != nil {
			return [32]byte{}, err
		}
		leaves[i] = l
	}
	return MerkleRoot(leaves), nil
}
