package rewrite

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Report says what Compress did, per layer and in total.
type Report struct {
	Layers []*LayerReport `json:"layers"`
	// Before and After are the whole model's weighted-layer costs.
	Before graph.Totals `json:"before"`
	After  graph.Totals `json:"after"`
	// Selected sums the rewritten layers only.
	SelectedParamsBefore int64 `json:"selected_params_before"`
	SelectedParamsAfter  int64 `json:"selected_params_after"`
	SelectedMACsBefore   int64 `json:"selected_macs_before"`
	SelectedMACsAfter    int64 `json:"selected_macs_after"`
	// What sparse and quant save: non-zero entries and stored bytes of the
	// rewritten layers' weights and biases (see LayerReport).
	SelectedNonZerosBefore    int64 `json:"selected_nonzeros_before"`
	SelectedNonZerosAfter     int64 `json:"selected_nonzeros_after"`
	SelectedWeightBytesBefore int64 `json:"selected_weight_bytes_before"`
	SelectedWeightBytesAfter  int64 `json:"selected_weight_bytes_after"`
}

// LayerReport is one layer's row.
type LayerReport struct {
	Layer string `json:"layer"`
	Op    string `json:"op"`
	// Output names the layer's output value, which the rewrite keeps.
	Output       string  `json:"output,omitempty"`
	Method       string  `json:"method"`
	Form         string  `json:"form,omitempty"`
	Ranks        []int   `json:"ranks,omitempty"`
	Chain        string  `json:"chain,omitempty"`
	Keep         float64 `json:"keep,omitempty"`
	Bits         int     `json:"bits,omitempty"`
	ParamsBefore int64   `json:"params_before"`
	ParamsAfter  int64   `json:"params_after"`
	MACsBefore   int64   `json:"macs_before"`
	MACsAfter    int64   `json:"macs_after"`
	// NonZeros and WeightBytes count the constants the layer computes with
	// (weights, biases, quantisation scales; not shapes): non-zero entries,
	// which is what --ratio counts for sparse, and stored bytes, which it
	// counts for quant. For a layer left as it was they equal the before
	// values.
	NonZerosBefore    int64 `json:"nonzeros_before"`
	NonZerosAfter     int64 `json:"nonzeros_after"`
	WeightBytesBefore int64 `json:"weight_bytes_before"`
	WeightBytesAfter  int64 `json:"weight_bytes_after"`
	// WeightError is ‖W − Ŵ‖/‖W‖ of the realised weight.
	WeightError float64 `json:"weight_error"`
	// OutputError is the relative L2 error of the model's outputs on probe
	// inputs, filled by callers that run the model (nil when not measured).
	OutputError *float64 `json:"output_error,omitempty"`
	// Skipped gives the reason a selected layer was left as it was.
	Skipped  string   `json:"skipped,omitempty"`
	NewNodes []string `json:"new_nodes,omitempty"`
}

func (r *Report) skip(l *Layer, method, reason string) {
	nz, bytes := storedCounts(l.Weight, l.BiasConst)
	r.Layers = append(r.Layers, &LayerReport{Layer: l.Node.Label(), Op: l.Node.OpType, Output: l.Output.Name,
		Method: method, ParamsBefore: l.Cost.Params, ParamsAfter: l.Cost.Params,
		MACsBefore: l.Cost.MACs, MACsAfter: l.Cost.MACs, Skipped: reason,
		NonZerosBefore: nz, NonZerosAfter: nz, WeightBytesBefore: bytes, WeightBytesAfter: bytes})
}

func (r *Report) add(l *Layer, p LayerPlan, before graph.LayerCost, relErr float64) *LayerReport {
	nz, bytes := storedCounts(l.Weight, l.BiasConst)
	row := &LayerReport{Layer: l.Node.Label(), Op: l.Node.OpType, Output: l.Output.Name, Method: p.Method, Form: p.Form,
		Ranks: p.Ranks, Chain: p.Chain, Keep: p.Keep, Bits: p.Bits,
		ParamsBefore: before.Params, MACsBefore: before.MACs, WeightError: relErr,
		NonZerosBefore: nz, WeightBytesBefore: bytes}
	r.Layers = append(r.Layers, row)
	return row
}

// storedCounts counts the non-zero entries and stored bytes of tensors
// (nil ones skipped; each tensor once).
func storedCounts(ts ...*graph.Tensor) (nonZeros, bytes int64) {
	seen := map[*graph.Tensor]bool{}
	for _, t := range ts {
		if t == nil || seen[t] {
			continue
		}
		seen[t] = true
		bytes += int64(len(t.Raw))
		size := t.DType.Size()
		if size <= 0 {
			continue
		}
		for i := 0; i+size <= len(t.Raw); i += size {
			for _, b := range t.Raw[i : i+size] {
				if b != 0 {
					nonZeros++
					break
				}
			}
		}
	}
	return nonZeros, bytes
}

// computedWith lists the constants nodes compute with: float and 8-bit
// integer tensors (weights, biases, scales, zero points), not shapes or
// axes.
func computedWith(g *graph.Graph, idx *graph.Index, nodes []*graph.Node) []*graph.Tensor {
	var out []*graph.Tensor
	for _, n := range nodes {
		for _, v := range n.Inputs {
			t, ok := graph.ConstTensor(g, idx, v)
			if ok && (t.DType.IsFloat() || t.DType == graph.Int8 || t.DType == graph.Uint8) {
				out = append(out, t)
			}
		}
	}
	return out
}

// Rewritten returns the rows of layers that were replaced.
func (r *Report) Rewritten() []*LayerReport {
	var out []*LayerReport
	for _, l := range r.Layers {
		if l.Skipped == "" {
			out = append(out, l)
		}
	}
	return out
}

// Describe says the plan's settings in words, e.g. "form output, ranks [8]".
func (p LayerPlan) Describe() string {
	var parts []string
	if p.Form != "" {
		parts = append(parts, "form "+p.Form)
	}
	if len(p.Ranks) > 0 {
		parts = append(parts, fmt.Sprintf("ranks %v", p.Ranks))
	}
	if p.Chain != "" {
		parts = append(parts, "chain "+p.Chain)
	}
	if p.Keep > 0 {
		parts = append(parts, fmt.Sprintf("keep %g", p.Keep))
	}
	if p.Bits > 0 {
		parts = append(parts, fmt.Sprintf("%d bits", p.Bits))
	}
	return strings.Join(parts, ", ")
}

// finishReport costs the new nodes now that their shapes are inferred, sums
// the totals, and writes the provenance list into the model's metadata.
func finishReport(s *state) error {
	g := s.model.Graph
	idx := graph.NewIndex(g)
	r := s.report
	for _, a := range s.applied {
		a.row.ParamsAfter, a.row.MACsAfter = 0, 0
		for _, n := range a.nodes {
			c := graph.NodeCost(g, idx, n)
			a.row.ParamsAfter += c.Params
			a.row.MACsAfter += c.MACs
		}
		a.row.NonZerosAfter, a.row.WeightBytesAfter = storedCounts(computedWith(g, idx, a.nodes)...)
	}
	recostSkipped(g, idx, r)
	for _, row := range r.Layers {
		if row.Skipped != "" && row.Skipped != keptByBudget {
			continue
		}
		r.SelectedParamsBefore += row.ParamsBefore
		r.SelectedParamsAfter += row.ParamsAfter
		r.SelectedMACsBefore += row.MACsBefore
		r.SelectedMACsAfter += row.MACsAfter
		r.SelectedNonZerosBefore += row.NonZerosBefore
		r.SelectedNonZerosAfter += row.NonZerosAfter
		r.SelectedWeightBytesBefore += row.WeightBytesBefore
		r.SelectedWeightBytesAfter += row.WeightBytesAfter
	}
	_, r.After = graph.ModelCost(s.model)
	if len(s.applied) == 0 {
		return nil
	}
	type provenance struct {
		Node     string   `json:"node"`
		Op       string   `json:"op"`
		Method   string   `json:"method"`
		Settings string   `json:"settings"`
		Error    float64  `json:"weight_error"`
		NewNodes []string `json:"new_nodes"`
	}
	var list []provenance
	for _, a := range s.applied {
		row := a.row
		plan := LayerPlan{Form: row.Form, Ranks: row.Ranks, Chain: row.Chain, Keep: row.Keep, Bits: row.Bits}
		list = append(list, provenance{row.Layer, row.Op, row.Method, plan.Describe(), row.WeightError, row.NewNodes})
	}
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	s.model.SetMetadata("onnxcompress.rewrites", string(b))
	return nil
}

// recostSkipped costs the layers left as they were on the graph as it is
// now: hinge's pruning narrows the inputs of the layers that read the
// pruned channels, rewritten or not.
func recostSkipped(g *graph.Graph, idx *graph.Index, r *Report) {
	for _, row := range r.Layers {
		if row.Skipped == "" {
			continue
		}
		v := idx.ValueByName(row.Output)
		n := idx.Producer(v)
		if v == nil || n == nil || n.Label() != row.Layer {
			continue
		}
		c := graph.NodeCost(g, idx, n)
		row.ParamsAfter, row.MACsAfter = c.Params, c.MACs
		row.NonZerosAfter, row.WeightBytesAfter = storedCounts(computedWith(g, idx, []*graph.Node{n})...)
	}
}
