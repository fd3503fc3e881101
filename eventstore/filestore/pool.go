package filestore

import (
	"sync"

	"github.com/epochledger/epochledger/eventstore"
)

// opPool recycles the ops of Append, whose results are copied out before
// the op is put back. (AppendMulti returns results that may live in its
// op.) The flusher refers to an op only until it has answered it: an op
// is put back only after its append has its outcome.
var opPool = sync.Pool{New: func() any { return newAppendOp() }}

func newAppendOp() *appendOp { return &appendOp{done: make(chan struct{}, 1)} }

// maxKeptKeys bounds the keys array a recycled op keeps (keyBuf).
const maxKeptKeys = 4096

// recycle clears what op refers to and puts it back in opPool.
func (op *appendOp) recycle() {
	if c := cap(op.keys); c > len(op.keyArr) && c <= maxKeptKeys {
		clear(op.keys) // no id strings kept alive
		op.keyBuf = op.keys[:0]
	}
	op.ctx, op.reqs, op.keys, op.frames, op.results, op.g = nil, nil, nil, nil, nil, nil
	op.err, op.pnext, op.gnext = nil, nil, nil
	op.reqArr[0], op.resultArr[0] = eventstore.AppendRequest{}, eventstore.AppendResult{}
	opPool.Put(op)
}

// bufPool recycles the large buffers of appends and groups (frames are
// encoded into one, copied into the other, written, and dropped), sparing
// the allocator and the garbage collector a few hundred KiB per batch.
var bufPool sync.Pool

const (
	minPooledBuf = 16 << 10 // smaller buffers are cheap to allocate
	maxPooledBuf = 4 << 20  // larger ones are rare and would pin memory
)

// getBuf returns an empty buffer with room for n bytes.
func getBuf(n int) []byte {
	if n >= minPooledBuf && n <= maxPooledBuf {
		if p, ok := bufPool.Get().(*[]byte); ok && cap(*p) >= n {
			return (*p)[:0]
		}
		return make([]byte, 0, max(n, 64<<10))
	}
	return make([]byte, 0, n)
}

// putBuf gives a buffer no longer referenced back to the pool.
func putBuf(b []byte) {
	if cap(b) >= minPooledBuf && cap(b) <= maxPooledBuf {
		p := new([]byte) // not &b: that would move b to the heap on every call
		*p = b
		bufPool.Put(p)
	}
}
