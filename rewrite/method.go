package rewrite

import (
	"fmt"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Method is one compression method. Methods are listed once, in methods.go.
type Method interface {
	Name() string
	// Check says why the layer cannot take the method; nil when it can.
	Check(l *Layer) error
	// Plan picks the method's settings for the layer so that it meets t.
	Plan(l *Layer, t Target) (LayerPlan, error)
	// Apply computes the factors and emits the replacement through e. It
	// returns the value holding the layer's output and the relative
	// Frobenius error of the weight the new subgraph realises.
	Apply(e *Emitter, l *Layer, p LayerPlan) (out *graph.Value, relErr float64, err error)
}

// Target says how far to compress one layer. Exactly one of Ratio, Rank and
// Energy is set.
type Target struct {
	// Ratio is the fraction of the layer's parameters (weight and bias) to
	// keep; for sparse it counts non-zeros, for quant weight bytes.
	Ratio float64
	// Rank is a fixed rank (or the kept size for pruning methods).
	Rank int
	// Energy keeps the smallest rank whose singular values hold this share
	// of the squared Frobenius norm.
	Energy float64
	// MACsRatio is the fraction of the selected layers' multiply-adds to
	// keep, spent by the global budget.
	MACsRatio float64
}

func (t Target) String() string {
	switch {
	case t.Rank > 0:
		return fmt.Sprintf("rank %d", t.Rank)
	case t.Energy > 0:
		return fmt.Sprintf("energy %g", t.Energy)
	case t.MACsRatio > 0:
		return fmt.Sprintf("MAC ratio %g", t.MACsRatio)
	}
	return fmt.Sprintf("ratio %g", t.Ratio)
}

// LayerPlan is one layer's method and settings; a list of them is the
// --plan / --write-plan JSON file.
type LayerPlan struct {
	Layer  string `json:"layer"`
	Method string `json:"method"`
	// Form picks a variant of the method (svd: output, input, spatial;
	// cp: 4way, 3way; tucker: tucker2, tucker1-in, tucker1-out, …).
	Form  string `json:"form,omitempty"`
	Ranks []int  `json:"ranks,omitempty"`
	// Chain is a DeBut chain in --sup/--sub notation.
	Chain string `json:"chain,omitempty"`
	// Keep is the kept fraction for pruning methods.
	Keep float64 `json:"keep,omitempty"`
	// Bits is the quantisation width.
	Bits int `json:"bits,omitempty"`
}

// ratioBudget turns a kept fraction of the layer's parameters into a budget
// for the factors alone: the bias is carried over unchanged, so it is paid
// for first.
func ratioBudget(l *Layer, ratio float64) float64 {
	bias := 0.0
	if l.BiasConst != nil {
		bias = float64(l.BiasConst.Len())
	}
	return ratio*(float64(l.WeightParams())+bias) - bias
}

// biasParams is the carried-over bias's size, part of every candidate's
// parameters.
func biasParams(l *Layer) int64 {
	if l.BiasConst == nil {
		return 0
	}
	return int64(l.BiasConst.Len())
}
