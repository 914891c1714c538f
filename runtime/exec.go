package runtime

import (
	"fmt"
	"sync"

	"github.com/onnxcompress/onnxcompress/graph"
)

// execContext is what kernels see of the session: the backend, the thread
// budget, and buffer allocation from the session's pool.
type execContext struct {
	backend Backend
	threads int
	pool    *pool
	temps   []*Tensor
	// fresh lists output headers whose buffers leave the session.
	fresh map[*Tensor]bool
	// constIn marks the running step's inputs that are session constants.
	constIn []bool
}

// isConstant reports whether the running node's input i is a constant
// (initializer or folded), whose data never changes between runs.
func (c *execContext) isConstant(i int) bool { return i < len(c.constIn) && c.constIn[i] }

// alloc gives output t the dtype and shape and a buffer whose contents are
// undefined: the kernel must write every element.
func (c *execContext) alloc(t *Tensor, dtype graph.DType, shape ...int) {
	c.pool.release(t)
	if c.fresh[t] {
		(&pool{}).fill(t, dtype, shape)
		return
	}
	c.pool.fill(t, dtype, shape)
}

// allocZero is alloc with the buffer zeroed, for kernels that accumulate.
func (c *execContext) allocZero(t *Tensor, dtype graph.DType, shape ...int) {
	c.alloc(t, dtype, shape...)
	clear(t.F32)
	clear(t.I64)
	clear(t.U8)
	clear(t.I8)
}

// tempF32 is scratch memory that lives until the kernel returns.
func (c *execContext) tempF32(n int) []float32 {
	t := &Tensor{}
	c.pool.fill(t, graph.Float32, []int{n})
	c.temps = append(c.temps, t)
	return t.F32
}

func (c *execContext) runStep(st *step) (err error) {
	defer func() {
		// A kernel bug on unexpected shapes must not take the caller down.
		if r := recover(); r != nil {
			err = nodeError(st.node, fmt.Errorf("kernel failed: %v", r))
		}
	}()
	c.constIn = st.constIn
	err = st.run(c, st.inBuf, st.outBuf)
	for _, t := range c.temps {
		c.pool.release(t)
	}
	c.temps = c.temps[:0]
	if err != nil {
		return nodeError(st.node, err)
	}
	return nil
}

// parallel splits [0,n) into contiguous chunks run on up to c.threads
// goroutines; small n runs inline.
func (c *execContext) parallel(n int, body func(lo, hi int)) {
	if min(c.threads, n) <= 1 {
		// No wrapping closure to allocate on the one-thread path, which
		// kernels take once per image.
		body(0, n)
		return
	}
	c.parallelWorkers(n, func(_, lo, hi int) { body(lo, hi) })
}

// parallelWorkers is parallel telling each chunk its worker index, below
// c.threads, for per-worker scratch memory.
func (c *execContext) parallelWorkers(n int, body func(worker, lo, hi int)) {
	workers := c.threads
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		body(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for w, lo := 0, 0; lo < n; w, lo = w+1, lo+chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			body(w, lo, hi)
		}()
	}
	wg.Wait()
}

// tempI64 is integer scratch memory (element indices) that lives until the
// kernel returns.
func (c *execContext) tempI64(n int) []int64 {
	t := &Tensor{}
	c.pool.fill(t, graph.Int64, []int{n})
	c.temps = append(c.temps, t)
	return t.I64
}
