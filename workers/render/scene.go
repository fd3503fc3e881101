package render

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"
)

// Scene describes a procedurally generated scene. Everything the renderer
// draws (spheres, materials, lights, sky, camera orbit) is derived from Seed
// with an integer PRNG, so (Scene, frame) fully determines the output bytes.
type Scene struct {
	Seed   uint64 `json:"seed"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	// Spp is the number of samples per pixel, taken on a fixed sub-pixel
	// pattern (no randomness). 0 means DefaultSpp.
	Spp int `json:"spp"`
}

// Limits accepted by RenderPNG.
const (
	DefaultSpp = 4
	MaxSpp     = 64
	MaxSize    = 4096 // width and height
	// OrbitFrames is the number of frames of one camera orbit (1.5° a
	// frame). After each orbit the camera rises a little, so frames
	// 0 … OrbitFrames·OrbitLevels−1 all differ.
	OrbitFrames = 240
	OrbitLevels = 8
)

// SceneFromHash derives a scene from a job's scene_hash (hex sha256 text).
// The seed is the first 8 bytes (big endian) of
// sha256("epochledger-scene-v1:" + lower(trim(sceneHashHex))); hashing the
// text rather than decoding it means any string gives a valid, stable seed.
func SceneFromHash(sceneHashHex string, width, height int) Scene {
	sum := sha256.Sum256([]byte("epochledger-scene-v1:" + strings.ToLower(strings.TrimSpace(sceneHashHex))))
	return Scene{Seed: binary.BigEndian.Uint64(sum[:8]), Width: width, Height: height, Spp: DefaultSpp}
}

type material struct {
	albedo   vec   // base colour
	kr       int64 // mirror reflectance (0 … 1)
	ks       int64 // specular highlight strength
	checker  bool  // ground plane: alternate albedo/albedo2 in 2-unit squares
	albedo2  vec
	mirrorTn vec // tint of reflected light
}

type sphere struct {
	c   vec
	r   int64
	rr  int64 // r² in Q32.32
	mat material
}

type light struct {
	pos vec
	col vec
}

type camera struct {
	eye, fwd, right, up vec
	tanHalf             int64
}

type world struct {
	spheres []sphere
	ground  material
	lights  []light
	ambient vec
	zenith  vec
	horizon vec
	orbitR  int64
	orbitH  int64
	target  vec
}

var palette = [...]vec{
	{fx(90, 100), fx(20, 100), fx(15, 100)},
	{fx(15, 100), fx(60, 100), fx(20, 100)},
	{fx(15, 100), fx(30, 100), fx(85, 100)},
	{fx(90, 100), fx(75, 100), fx(10, 100)},
	{fx(80, 100), fx(80, 100), fx(80, 100)},
	{fx(60, 100), fx(20, 100), fx(70, 100)},
	{fx(10, 100), fx(70, 100), fx(75, 100)},
	{fx(95, 100), fx(45, 100), fx(10, 100)},
}

func (r *splitmix64) jitter(c vec, amt int64) vec {
	j := func(v int64) int64 { return clamp(v+r.rangeFx(-amt, amt), 0, one) }
	return vec{j(c.x), j(c.y), j(c.z)}
}

// buildWorld derives the scene contents from the seed.
func buildWorld(seed uint64) *world {
	rng := &splitmix64{s: seed}
	w := &world{}

	w.zenith = rng.jitter(vec{fx(25, 100), fx(45, 100), fx(85, 100)}, fx(8, 100))
	w.horizon = rng.jitter(vec{fx(80, 100), fx(85, 100), fx(95, 100)}, fx(5, 100))
	w.ambient = vec{fx(12, 100), fx(12, 100), fx(14, 100)}

	g1 := rng.jitter(vec{fx(85, 100), fx(85, 100), fx(80, 100)}, fx(10, 100))
	g2 := rng.jitter(vec{fx(20, 100), fx(22, 100), fx(25, 100)}, fx(10, 100))
	w.ground = material{albedo: g1, albedo2: g2, checker: true, kr: rng.rangeFx(0, fx(15, 100)), mirrorTn: vec{one, one, one}}

	newMat := func() material {
		m := material{albedo: rng.jitter(palette[rng.intn(len(palette))], fx(10, 100))}
		m.ks = rng.rangeFx(fx(20, 100), fx(80, 100))
		if rng.intn(3) == 0 { // mirror
			m.kr = rng.rangeFx(fx(60, 100), fx(90, 100))
			m.mirrorTn = rng.jitter(vec{fx(90, 100), fx(90, 100), fx(90, 100)}, fx(10, 100))
		} else {
			m.kr = rng.rangeFx(0, fx(10, 100))
			m.mirrorTn = vec{one, one, one}
		}
		return m
	}

	// A central sphere and a ring of 4–6 smaller ones resting on the ground.
	r0 := rng.rangeFx(fx(10, 10), fx(16, 10))
	w.spheres = append(w.spheres, sphere{c: vec{0, r0, 0}, r: r0, mat: newMat()})
	n := 4 + rng.intn(3)
	for i := range n {
		k := int64(i*360/n + rng.intn(20))
		s, c := sinCos(k, 360)
		ringR := rng.rangeFx(fx(30, 10), fx(50, 10))
		r := rng.rangeFx(fx(5, 10), fx(11, 10))
		w.spheres = append(w.spheres, sphere{c: vec{mul(c, ringR), r, mul(s, ringR)}, r: r, mat: newMat()})
	}
	for i := range w.spheres {
		w.spheres[i].rr = w.spheres[i].r * w.spheres[i].r
	}

	// Two point lights: a warm key and a cool fill.
	for i := range 2 {
		s, c := sinCos(int64(rng.intn(360)), 360)
		d := rng.rangeFx(fx(5, 1), fx(9, 1))
		h := rng.rangeFx(fx(6, 1), fx(10, 1))
		base := vec{fx(95, 100), fx(85, 100), fx(70, 100)}
		if i == 1 {
			base = vec{fx(45, 100), fx(50, 100), fx(65, 100)}
		}
		w.lights = append(w.lights, light{pos: vec{mul(c, d), h, mul(s, d)}, col: rng.jitter(base, fx(5, 100))})
	}

	w.orbitR = rng.rangeFx(fx(9, 1), fx(11, 1))
	w.orbitH = rng.rangeFx(fx(25, 10), fx(40, 10))
	w.target = vec{0, one, 0}
	return w
}

// cameraFor places the camera on the orbit for a frame.
func (w *world) cameraFor(frame int) camera {
	f := int64(frame)
	s, c := sinCos(f%OrbitFrames, OrbitFrames)
	level := (f / OrbitFrames) % OrbitLevels
	eye := vec{mul(c, w.orbitR), w.orbitH + level*fx(1, 4), mul(s, w.orbitR)}
	fwd := w.target.sub(eye).normalize()
	right := fwd.cross(vec{0, one, 0}).normalize()
	up := right.cross(fwd)
	return camera{eye: eye, fwd: fwd, right: right, up: up, tanHalf: fx(55, 100)}
}
