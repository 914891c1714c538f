package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"

	"github.com/onnxcompress/onnxcompress"
)

// Go's collector lets the heap grow to twice what was live after the last
// collection. compress peaks at about twice the model live (the model, one
// layer's float64 working copy, the probe's reference values), so left alone
// its resident size reaches four times the model file. A soft memory limit
// a little above the live peak keeps it near the live size instead; the
// weights are pointer-free, so the extra collections cost little.
const (
	memLimitPerModelByte = 2.5      // the limit, in model sizes
	memLimitFloor        = 64 << 20 // small models: the CLI's own heap dominates
	memLimitOverLive     = 1.25     // never closer than this to the live heap
)

// memoryLimit is the soft limit for working on a model of modelBytes while
// peakLive bytes have been live at most: never so close to the live heap
// that the collector would run back to back.
func memoryLimit(modelBytes, peakLive int64) int64 {
	return max(int64(memLimitPerModelByte*float64(modelBytes)), memLimitFloor, int64(memLimitOverLive*float64(peakLive)))
}

// limitMemoryFor sets the soft memory limit for working on m, and raises it
// after each collection that finds more live, unless the user set
// GOMEMLIMIT. One limiter serves the process, sized for the largest model
// it was asked about.
func limitMemoryFor(m *onnxcompress.Model) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limiter.mu.Lock()
	limiter.modelBytes = max(limiter.modelBytes, modelBytes(m))
	limiter.mu.Unlock()
	limiter.adjust()
	limiter.once.Do(limiter.armAfterNextGC)
}

var limiter memLimiter

type memLimiter struct {
	once       sync.Once
	mu         sync.Mutex
	modelBytes int64
	peakLive   int64
}

func (l *memLimiter) adjust() {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	l.mu.Lock()
	defer l.mu.Unlock()
	if s[0].Value.Kind() == metrics.KindUint64 {
		l.peakLive = max(l.peakLive, int64(s[0].Value.Uint64()))
	}
	debug.SetMemoryLimit(memoryLimit(l.modelBytes, l.peakLive))
}

// gcSentinel dies at every collection; its finalizer re-arms the limiter.
type gcSentinel struct{ l *memLimiter }

func (l *memLimiter) armAfterNextGC() {
	runtime.SetFinalizer(&gcSentinel{l: l}, func(s *gcSentinel) {
		s.l.adjust()
		s.l.armAfterNextGC()
	})
}

// modelBytes is the size of m's constant data: initializers and the
// tensors of Constant nodes.
func modelBytes(m *onnxcompress.Model) int64 {
	if m == nil || m.Graph == nil {
		return 0
	}
	var n int64
	for _, v := range m.Graph.Initializers {
		if v.Const != nil {
			n += int64(len(v.Const.Raw))
		}
	}
	for _, node := range m.Graph.Nodes {
		for _, a := range node.Attrs {
			if a.T != nil {
				n += int64(len(a.T.Raw))
			}
		}
	}
	return n
}
