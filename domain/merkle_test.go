package domain

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// naiveRoot is the recursive definition: pair left to right, promote the
// odd last node.
func naiveRoot(level [][32]byte) [32]byte {
	if len(level) == 0 {
		return [32]byte{}
	}
	for len(level) > 1 {
		var next [][32]byte
		for i := 0; i < len(level); i += 2 {
			if i+1 == len(level) {
				next = append(next, level[i])
				continue
			}
			next = append(next, sha256.Sum256(append(append([]byte{1}, level[i][:]...), level[i+1][:]...)))
		}
		level = next
	}
	return level[0]
}

func leavesN(n int) [][32]byte {
	out := make([][32]byte, n)
	for i := range out {
		out[i] = sha256.Sum256([]byte{byte(i), byte(i >> 8)})
	}
	return out
}

func TestMerkleRootAndProofs(t *testing.T) {
	assert.Equal(t, [32]byte{}, MerkleRoot(nil))
	l := leavesN(1)
	assert.Equal(t, l[0], MerkleRoot(l), "one leaf is its own root")
	l = leavesN(2)
	assert.Equal(t, sha256.Sum256(append(append([]byte{1}, l[0][:]...), l[1][:]...)), MerkleRoot(l))

	for n := 1; n <= 70; n++ {
		leaves := leavesN(n)
		orig := append([][32]byte(nil), leaves...)
		root := MerkleRoot(leaves)
		require.Equal(t, naiveRoot(leaves), root, n)
		require.Equal(t, orig, leaves, "MerkleRoot must not modify its input")
		for i := range n {
			proof := MerkleProof(leaves, i)
			if !VerifyMerkleProof(leaves[i], i, n, proof, root) {
				t.Fatalf("n=%d i=%d: proof does not verify", n, i)
			}
			// Wrong index, wrong count, wrong leaf, truncated or extended proofs fail.
			if n > 1 && VerifyMerkleProof(leaves[i], (i+1)%n, n, proof, root) {
				t.Fatalf("n=%d i=%d: verifies at another index", n, i)
			}
			if VerifyMerkleProof(leaves[(i+1)%n], i, n, proof, root) && n > 1 {
				t.Fatalf("n=%d i=%d: verifies another leaf", n, i)
			}
			if len(proof) > 0 && VerifyMerkleProof(leaves[i], i, n, proof[:len(proof)-1], root) {
				t.Fatalf("n=%d i=%d: truncated proof verifies", n, i)
			}
			if VerifyMerkleProof(leaves[i], i, n, append(proof, root), root) {
				t.Fatalf("n=%d i=%d: extended proof verifies", n, i)
			}
		}
		require.Equal(t, orig, leaves, "MerkleProof must not modify its input")
	}
	// An inner node is not a leaf of a shorter tree.
	leaves := leavesN(4)
	root := MerkleRoot(leaves)
	inner := sha256.Sum256(append(append([]byte{1}, leaves[0][:]...), leaves[1][:]...))
	right := sha256.Sum256(append(append([]byte{1}, leaves[2][:]...), leaves[3][:]...))
	assert.True(t, !VerifyMerkleProof(inner, 0, 4, [][32]byte{right}, root))
	assert.True(t, VerifyMerkleProof(inner, 0, 2, [][32]byte{right}, root), "only with the wrong count")
	assert.True(t, !VerifyMerkleProof(inner, -1, 4, nil, root))

	defer func() { assert.True(t, recover() != nil) }()
	MerkleProof(leaves, 4)
}

func TestPayoutLeaf(t *testing.T) {
	var wallet [32]byte
	for i := range wallet {
		wallet[i] = byte(i)
	}
	got := PayoutLeaf(7, "op-a", wallet, 4_700_000_000_000)
	var buf []byte
	buf = append(buf, 0)
	buf = binary.BigEndian.AppendUint64(buf, 7)
	buf = append(buf, "op-a"...)
	buf = append(buf, 0)
	buf = append(buf, wallet[:]...)
	buf = binary.BigEndian.AppendUint64(buf, 4_700_000_000_000)
	assert.Equal(t, sha256.Sum256(buf), got)
	// Pinned so the leaf encoding cannot drift unnoticed.
	assert.Equal(t, "cc468e5eb38842f589ff99207c2c2ce7c8852d48197d4c73df244696512f2816", HashHex(got))
	assert.True(t, PayoutLeaf(7, "op-a", wallet, 1) != got)
	assert.True(t, PayoutLeaf(8, "op-a", wallet, 4_700_000_000_000) != got)
}

func TestProvenance(t *testing.T) {
	h := sha256.Sum256([]byte("x"))
	leaf, err := ProvenanceLeaf(hex.EncodeToString(h[:]))
	require.NoError(t, err)
	assert.Equal(t, h, leaf)
	_, err = ProvenanceLeaf("ABCD")
	require.Error(t, err)
	_, err = ProvenanceRoot([]string{hex.EncodeToString(h[:]), "zz"})
	require.Error(t, err)
	r, err := ProvenanceRoot(nil)
	require.NoError(t, err)
	assert.Equal(t, [32]byte{}, r)
	_, err = ParseWallet("0")
	require.Error(t, err)
}

func BenchmarkMerkleRoot100k(b *testing.B) {
	leaves := leavesN(100_000)
	b.SetBytes(32 * 100_000)
	for b.Loop() {
		MerkleRoot(leaves)
	}
}
