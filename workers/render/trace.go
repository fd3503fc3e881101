package render

const (
	maxDist  = int64(256) << fracBits // nothing farther than this is hit
	eps      = one / 128              // self-intersection offset
	maxDepth = 3                      // mirror bounces
	fogStart = int64(40) << fracBits
)

type hit struct {
	t   int64
	p   vec
	n   vec
	mat *material
}

// intersectSphere returns the nearest t in (eps, tmax) where the ray o+t·d
// (d normalized) meets s, or -1.
func intersectSphere(s *sphere, o, d vec, tmax int64) int64 {
	oc := o.sub(s.c)
	b := oc.dot(d)              // Q16
	c := oc.lengthSq32() - s.rr // Q32
	if b > 0 && c > 0 {         // outside and pointing away
		return -1
	}
	disc := b*b - c // Q32
	if disc < 0 {
		return -1
	}
	sq := isqrt(disc) // Q16
	t := -b - sq
	if t <= eps {
		t = -b + sq
	}
	if t <= eps || t >= tmax {
		return -1
	}
	return t
}

// intersectGround intersects the plane y = 0, or returns -1.
func intersectGround(o, d vec, tmax int64) int64 {
	if d.y >= 0 || o.y <= 0 {
		return -1
	}
	t := div(-o.y, d.y)
	if t <= eps || t >= tmax {
		return -1
	}
	return t
}

func (w *world) nearest(o, d vec) (h hit, ok bool) {
	best := maxDist
	var bs *sphere
	for i := range w.spheres {
		if t := intersectSphere(&w.spheres[i], o, d, best); t > 0 {
			best, bs = t, &w.spheres[i]
		}
	}
	ground := false
	if t := intersectGround(o, d, best); t > 0 {
		best, ground = t, true
	}
	if !ground && bs == nil {
		return h, false
	}
	h.t = best
	h.p = o.add(d.scale(best))
	if ground {
		h.n = vec{0, one, 0}
		h.mat = &w.ground
	} else {
		h.n = h.p.sub(bs.c).normalize()
		h.mat = &bs.mat
	}
	return h, true
}

// occluded reports whether anything lies on the segment o → o+t·d, t < dist.
func (w *world) occluded(o, d vec, dist int64) bool {
	for i := range w.spheres {
		if intersectSphere(&w.spheres[i], o, d, dist) > 0 {
			return true
		}
	}
	return intersectGround(o, d, dist) > 0
}

func (w *world) sky(d vec) vec {
	return w.horizon.lerp(w.zenith, clamp(d.y, 0, one))
}

// trace returns the radiance (Q16.16 RGB, may exceed 1) along the ray o+t·d.
func (w *world) trace(o, d vec, depth int) vec {
	h, ok := w.nearest(o, d)
	if !ok {
		return w.sky(d)
	}
	m := h.mat
	albedo := m.albedo
	if m.checker && ((h.p.x>>(fracBits+1))+(h.p.z>>(fracBits+1)))&1 != 0 {
		albedo = m.albedo2
	}
	p := h.p.add(h.n.scale(eps))

	diffuse := w.ambient
	var spec vec
	for i := range w.lights {
		l := &w.lights[i]
		toL := l.pos.sub(p)
		dist := toL.length()
		if dist == 0 {
			continue
		}
		ld := vec{div(toL.x, dist), div(toL.y, dist), div(toL.z, dist)}
		ndl := h.n.dot(ld)
		if ndl <= 0 || w.occluded(p, ld, dist) {
			continue
		}
		diffuse = diffuse.add(l.col.scale(ndl))
		if m.ks > 0 {
			hv := ld.sub(d).normalize()
			if ndh := h.n.dot(hv); ndh > 0 {
				spec = spec.add(l.col.scale(mul(powFx(ndh, 5), m.ks))) // (n·h)^32
			}
		}
	}
	col := albedo.mulv(diffuse).add(spec)

	if m.kr > 0 && depth < maxDepth {
		r := d.sub(h.n.scale(2 * h.n.dot(d))).normalize()
		refl := w.trace(p, r, depth+1).mulv(m.mirrorTn)
		col = col.lerp(refl, m.kr)
	}
	if h.t > fogStart { // fade distant ground into the horizon (also hides aliasing)
		f := div(h.t-fogStart, maxDist-fogStart)
		col = col.lerp(w.horizon, clamp(f, 0, one))
	}
	return col
}

// toByte maps a linear Q16.16 channel to 8-bit with a gamma of 2 (sqrt).
func toByte(v int64) byte {
	v = clamp(v, 0, one)
	g := sqrtFx(v)
	return byte(clamp((g*255+half)>>fracBits, 0, 255))
}
