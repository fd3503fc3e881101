// Package lookuptable encodes the address-lookup-table program's
// instructions (create, extend) and derives table addresses. solana-go
// decodes table accounts (programs/address-lookup-table) but does not
// build these instructions; they are small bincode enums, so they are
// written out here rather than pulled in from another dependency.
//
// Wire format (bincode, little endian), as the program's
// ProgramInstruction enum:
//
//	CreateLookupTable { recent_slot: u64, bump_seed: u8 }   tag 0
//	ExtendLookupTable { new_addresses: Vec<Pubkey> }        tag 2 (u64 length, 32 bytes each)
//
// The table address is the program-derived address of
// [authority, recent_slot (u64 LE)]; recent_slot must be in the
// SlotHashes sysvar when the creation executes (≤ 512 slots old).
package lookuptable

import (
	"encoding/binary"
	"fmt"

	"github.com/gagliardetto/solana-go"
)

// ProgramID is the address-lookup-table program.
var ProgramID = solana.MustPublicKeyFromBase58("AddressLookupTab1e1111111111111111111111111")

const (
	// MaxAddresses is how many addresses one table holds.
	MaxAddresses = 256
	// MetaSize is the table account's header before the addresses.
	MetaSize = 56
	// MaxExtendPerTx is how many addresses one extension carries so that
	// the extend transaction (one signer, four accounts, a memo-free
	// message) stays well inside the 1,232-byte packet: 1 + 64 signature
	// + 3 header + 1 + 4×32 keys + 32 blockhash + 1 + instruction
	// (1 + 1 + 4 + 1+2 + 4 + 8 + 30×32) = 1,195 bytes.
	MaxExtendPerTx = 30
)

const (
	tagCreate = 0
	tagExtend = 2
)

// Derive returns the address of authority's table created at recentSlot.
func Derive(authority solana.PublicKey, recentSlot uint64) (solana.PublicKey, uint8, error) {
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], recentSlot)
	return solana.FindProgramAddress([][]byte{authority[:], s[:]}, ProgramID)
}

// Create is the CreateLookupTable instruction for Derive(authority,
// recentSlot). The authority signs (older program versions require it;
// here authority and payer are the same treasury key).
func Create(authority, payer solana.PublicKey, recentSlot uint64) (solana.Instruction, solana.PublicKey, error) {
	table, bump, err := Derive(authority, recentSlot)
	if err != nil {
		return nil, solana.PublicKey{}, fmt.Errorf("lookup table of %s at slot %d: %w", authority, recentSlot, err)
	}
	data := make([]byte, 4+8+1)
	binary.LittleEndian.PutUint32(data[0:], tagCreate)
	binary.LittleEndian.PutUint64(data[4:], recentSlot)
	data[12] = bump
	return solana.NewInstruction(ProgramID, solana.AccountMetaSlice{
		solana.Meta(table).WRITE(),
		solana.Meta(authority).SIGNER(),
		solana.Meta(payer).WRITE().SIGNER(),
		solana.Meta(solana.SystemProgramID),
	}, data), table, nil
}

// Extend is the ExtendLookupTable instruction appending addresses to table.
func Extend(table, authority, payer solana.PublicKey, addresses []solana.PublicKey) (solana.Instruction, error) {
	if len(addresses) == 0 {
		return nil, fmt.Errorf("extend lookup table %s: no addresses", table)
	}
	if len(addresses) > MaxAddresses {
		return nil, fmt.Errorf("extend lookup table %s: %d addresses, a table holds at most %d", table, len(addresses), MaxAddresses)
	}
	data := make([]byte, 4+8, 4+8+32*len(addresses))
	binary.LittleEndian.PutUint32(data[0:], tagExtend)
	binary.LittleEndian.PutUint64(data[4:], uint64(len(addresses)))
	for _, a := range addresses {
		data = append(data, a[:]...)
	}
	return solana.NewInstruction(ProgramID, solana.AccountMetaSlice{
		solana.Meta(table).WRITE(),
		solana.Meta(authority).SIGNER(),
		solana.Meta(payer).WRITE().SIGNER(),
		solana.Meta(solana.SystemProgramID),
	}, data), nil
}
