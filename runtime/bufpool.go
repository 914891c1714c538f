package runtime

import "github.com/onnxcompress/onnxcompress/graph"

// pool recycles data buffers between nodes and between runs. Buffers return
// to it when the value they hold is dead (after its last consumer), so a
// session's memory stays at the peak of simultaneously live values, and a
// run with the same shapes as the previous one allocates no buffers.
type pool struct {
	f32 [][]float32
	i64 [][]int64
	u8  [][]uint8
	i8  [][]int8
}

// take returns the smallest free slice of capacity ≥ n, or a new one. A
// buffer more than twice too big stays for a bigger request.
func take[E any](free *[][]E, n int) []E {
	best := -1
	for i, b := range *free {
		if cap(b) >= n && cap(b) <= 2*n+1024 && (best < 0 || cap(b) < cap((*free)[best])) {
			best = i
		}
	}
	if best < 0 {
		return make([]E, n)
	}
	b := (*free)[best]
	last := len(*free) - 1
	(*free)[best] = (*free)[last]
	(*free)[last] = nil
	*free = (*free)[:last]
	return b[:n]
}

func give[E any](free *[][]E, b []E) {
	if cap(b) > 0 {
		*free = append(*free, b[:0])
	}
}

// fill sets t's dtype and shape and gives it a buffer (contents undefined).
func (p *pool) fill(t *Tensor, dtype graph.DType, shape []int) {
	t.DType = dtype
	t.Shape = append(t.Shape[:0], shape...)
	n := shapeSize(shape)
	switch dtype {
	case graph.Float32:
		t.F32 = take(&p.f32, n)
	case graph.Int64:
		t.I64 = take(&p.i64, n)
	case graph.Uint8, graph.Bool:
		t.U8 = take(&p.u8, n)
	case graph.Int8:
		t.I8 = take(&p.i8, n)
	}
}

// release returns t's buffer to the pool and detaches it from t.
func (p *pool) release(t *Tensor) {
	if t.F32 != nil {
		give(&p.f32, t.F32)
		t.F32 = nil
	}
	if t.I64 != nil {
		give(&p.i64, t.I64)
		t.I64 = nil
	}
	if t.U8 != nil {
		give(&p.u8, t.U8)
		t.U8 = nil
	}
	if t.I8 != nil {
		give(&p.i8, t.I8)
		t.I8 = nil
	}
}
