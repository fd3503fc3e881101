package render

import (
	"encoding/binary"
	"hash/adler32"
	"hash/crc32"
)

// encodePNG writes an 8-bit RGB, non-interlaced PNG whose bytes depend only on
// the pixels: every scanline uses filter 0 and the zlib stream consists of
// stored (uncompressed) deflate blocks. image/png is not used because its
// compressor may change between Go versions, and the proof hash is taken over
// these bytes. CRC-32 and Adler-32 are fixed algorithms.
func encodePNG(width, height int, rgb []byte) []byte {
	rowLen := 1 + 3*width
	rawLen := rowLen * height
	const maxStored = 65535
	nBlocks := (rawLen + maxStored - 1) / maxStored
	if nBlocks == 0 {
		nBlocks = 1
	}
	zlen := 2 + rawLen + 5*nBlocks + 4

	out := make([]byte, 0, 8+25+12+zlen+12)
	out = append(out, 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n')

	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(width))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(height))
	ihdr[8] = 8  // bit depth
	ihdr[9] = 2  // colour type: truecolour RGB
	ihdr[10] = 0 // compression: deflate
	ihdr[11] = 0 // filter method 0
	ihdr[12] = 0 // no interlace
	out = appendChunk(out, "IHDR", ihdr[:])

	// IDAT: zlib header (CM=8, CINFO=7, FLEVEL=0, FCHECK so that the 16-bit
	// value is a multiple of 31), stored blocks, Adler-32 of the raw data.
	start := len(out)
	out = append(out, 0, 0, 0, 0, 'I', 'D', 'A', 'T')
	out = append(out, 0x78, 0x01)
	ad := adler32.New()
	row := 0
	col := 0 // position within the current row, 0 = filter byte
	remaining := rawLen
	for b := 0; b < nBlocks; b++ {
		n := min(remaining, maxStored)
		remaining -= n
		final := byte(0)
		if remaining == 0 {
			final = 1
		}
		out = append(out, final, byte(n), byte(n>>8), ^byte(n), ^byte(n>>8))
		blockStart := len(out)
		for n > 0 {
			if col == 0 {
				out = append(out, 0) // filter type None
				col, n = 1, n-1
				continue
			}
			off := row*3*width + (col - 1)
			take := min(n, rowLen-col)
			out = append(out, rgb[off:off+take]...)
			col += take
			n -= take
			if col == rowLen {
				row, col = row+1, 0
			}
		}
		ad.Write(out[blockStart:])
	}
	out = binary.BigEndian.AppendUint32(out, ad.Sum32())
	binary.BigEndian.PutUint32(out[start:], uint32(len(out)-start-8))
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[start+4:]))

	return appendChunk(out, "IEND", nil)
}

func appendChunk(out []byte, typ string, data []byte) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
	s := len(out)
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[s:]))
}
