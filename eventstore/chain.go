package eventstore

import (
	"crypto/sha256"
	"encoding/binary"
)

// ChainHash returns the content chain hash of event e whose predecessor's
// chain hash is prev (32 zero bytes before the first event):
//
//	SHA-256( prev                                 32 bytes
//	       || u32 len(stream) || stream
//	       || u64 revision
//	       || u32 len(id)     || id
//	       || u32 len(type)   || type
//	       || u32 len(time)   || time
//	       || u32 len(data)   || data )
//
// Integers are big-endian; strings are their bytes as stored. Only content
// is hashed, not the position, so the chain of a log is the same on every
// networked backend (esdb, postgres) and after a copy, and an auditor can
// recompute it from `epochledger export` output in log order. Every field
// is length-prefixed, so no two different events encode alike. (The
// embedded store's frames carry their own chain, which also commits to
// positions; see eventstore/filestore.)
func ChainHash(prev [32]byte, e *RecordedEvent) [32]byte {
	d := sha256.New()
	var b [8]byte
	str := func(s []byte) {
		binary.BigEndian.PutUint32(b[:4], uint32(len(s)))
		d.Write(b[:4])
		d.Write(s)
	}
	d.Write(prev[:])
	str([]byte(e.Stream))
	binary.BigEndian.PutUint64(b[:], e.Revision)
	d.Write(b[:])
	str([]byte(e.ID))
	str([]byte(e.Type))
	str([]byte(e.Time))
	str(e.Data)
	var h [32]byte
	d.Sum(h[:0])
	return h
}
