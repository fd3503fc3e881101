package lookuptable

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gagliardetto/solana-go"
)

// The instruction data is the program's bincode enum; the accounts are
// table (w), authority (s), payer (w, s), system program. (End to end
// against the real program: settlement/localnet's TestV0WithLookupTable.)
func TestEncoding(t *testing.T) {
	auth := solana.NewWallet().PublicKey()
	ix, table, err := Create(auth, auth, 447552123)
	if err != nil {
		t.Fatal(err)
	}
	want, bump, err := Derive(auth, 447552123)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := ix.Data()
	if !table.Equals(want) || len(data) != 13 || binary.LittleEndian.Uint32(data) != 0 ||
		binary.LittleEndian.Uint64(data[4:]) != 447552123 || data[12] != bump {
		t.Fatalf("create: table %s (want %s), data %x", table, want, data)
	}
	if a := ix.Accounts(); len(a) != 4 || !a[0].IsWritable || a[0].IsSigner || !a[1].IsSigner || !a[2].IsSigner || !a[2].IsWritable || !a[3].PublicKey.Equals(solana.SystemProgramID) {
		t.Fatalf("create accounts %v", a)
	}
	addrs := []solana.PublicKey{solana.NewWallet().PublicKey(), solana.NewWallet().PublicKey()}
	ex, err := Extend(table, auth, auth, addrs)
	if err != nil {
		t.Fatal(err)
	}
	data, _ = ex.Data()
	if binary.LittleEndian.Uint32(data) != 2 || binary.LittleEndian.Uint64(data[4:]) != 2 || !bytes.Equal(data[12:44], addrs[0][:]) || len(data) != 76 {
		t.Fatalf("extend data %x", data)
	}
	if _, err := Extend(table, auth, auth, nil); err == nil {
		t.Fatal("an empty extension was accepted")
	}
	if _, err := Extend(table, auth, auth, make([]solana.PublicKey, MaxAddresses+1)); err == nil {
		t.Fatal("an extension past 256 addresses was accepted")
	}
}
