// Package render is the worker's built-in deterministic renderer and the
// adapter for external renderers.
//
// The built-in renderer is a small Whitted-style ray tracer (spheres and a
// checkered ground plane, diffuse + Blinn specular + mirror reflection, hard
// shadows from two point lights, a sky gradient, a fixed sub-pixel sampling
// pattern) written entirely in Q16.16 fixed-point integer arithmetic, and it
// writes its own PNG encoding (stored deflate blocks). The PNG bytes are
// therefore a pure function of (Scene, frame): identical on amd64 and arm64,
// with or without FMA instructions, and across Go versions, which is what
// lets a verifier re-render a sampled frame and compare output hashes (see
// DESIGN.md, Workers).
package render

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// RenderPNG renders frame (>= 0) of s and returns the PNG bytes. The context
// is checked between rows; on cancellation the context's error is returned.
func RenderPNG(ctx context.Context, s Scene, frame int) ([]byte, error) {
	if s.Width < 1 || s.Height < 1 || s.Width > MaxSize || s.Height > MaxSize {
		return nil, fmt.Errorf("render: size %dx%d out of range 1..%d", s.Width, s.Height, MaxSize)
	}
	spp := s.Spp
	if spp == 0 {
		spp = DefaultSpp
	}
	if spp < 1 || spp > MaxSpp {
		return nil, fmt.Errorf("render: spp %d out of range 1..%d", s.Spp, MaxSpp)
	}
	if frame < 0 {
		return nil, fmt.Errorf("render: negative frame %d", frame)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	w := buildWorld(s.Seed)
	cam := w.cameraFor(frame)

	// Fixed sub-pixel pattern: x stratified, y from the golden-ratio sequence.
	type off struct{ x, y int64 }
	pattern := make([]off, spp)
	for k := range spp {
		pattern[k] = off{
			x: (int64(2*k+1) << fracBits) / int64(2*spp),
			y: (int64(k)*40503 + half) & (one - 1), // 40503 ≈ 0.618·2^16
		}
	}

	W, H := int64(s.Width), int64(s.Height)
	rgb := make([]byte, 3*s.Width*s.Height)
	i := 0
	for py := range H {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for px := range W {
			var acc vec
			for _, o := range pattern {
				sx := px<<fracBits + o.x
				sy := py<<fracBits + o.y
				u := mul((2*sx-W*one)/H, cam.tanHalf) // /H for both: square pixels
				v := mul((H*one-2*sy)/H, cam.tanHalf)
				d := cam.fwd.add(cam.right.scale(u)).add(cam.up.scale(v)).normalize()
				c := w.trace(cam.eye, d, 0)
				acc = acc.add(vec{clamp(c.x, 0, one), clamp(c.y, 0, one), clamp(c.z, 0, one)})
			}
			n := int64(spp)
			rgb[i] = toByte(acc.x / n)
			rgb[i+1] = toByte(acc.y / n)
			rgb[i+2] = toByte(acc.z / n)
			i += 3
		}
	}
	return encodePNG(s.Width, s.Height, rgb), nil
}

// OutputHash is the proof hash of an output: lowercase hex sha256 of the bytes.
func OutputHash(png []byte) string {
	sum := sha256.Sum256(png)
	return hex.EncodeToString(sum[:])
}
