package rewrite

import (
	"fmt"
	"slices"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Export of an LCS subspace (lcs.md B.7). Training (finetune.RunLCS) gives
// the compressed weights of every level as data; this file turns them into
// graphs with standard ops only:
//   - LCSStatic makes the static model of one level: masked weights stored
//     as they are (dense zeros; onnx.SparseWhenSmaller can write them as
//     sparse_initializer), or
//     int8 codes read through DequantizeLinear for a bit width, or layers
//     narrowed to their leading output channels (real Conv/Gemm slicing,
//     propagated to consumers by the channel analysis of channels.go);
//   - LCSAdaptive joins several static models into one graph with an int64
//     input "lcs_level" (an index into the grid) that picks a member
//     through a chain of If nodes.

// LCSMember is what the static model of one level stores.
type LCSMember struct {
	// Values replaces the data of float32 initializers (the interpolated,
	// masked or fake-quantized weights).
	Values map[string][]float32
	// Codes stores these float32 initializers as int8 codes instead, read
	// through one DequantizeLinear each: Dequantize(code) = (code − zero)·scale.
	Codes map[string]LCSCodes
	// Widths narrows these layers (node name → leading output channels
	// kept); their trailing channels must already be zero in Values.
	Widths map[string]int
	// Provenance goes into the model's metadata ("onnxcompress.lcs.level").
	Provenance string
}

// LCSCodes are one tensor's integer codes (in int8 range) and their
// per-tensor affine map.
type LCSCodes struct {
	Codes     []int32
	Scale     float32
	ZeroPoint int32
}

// LCSStaticReport says which layers a static member narrowed and which it
// could only mask (their channels tied to another branch or an op that
// mixes channels).
type LCSStaticReport struct {
	Narrowed []string          `json:"narrowed,omitempty"`
	Masked   map[string]string `json:"masked,omitempty"`
}

// LCSStatic turns m, in place, into the static model of one level.
func LCSStatic(m *graph.Model, member LCSMember) (*LCSStaticReport, error) {
	g := m.Graph
	byName := map[string]*graph.Value{}
	for _, v := range g.Initializers {
		byName[v.Name] = v
	}
	for _, name := range sortedKeys(member.Values) {
		v := byName[name]
		if v == nil || v.Const == nil || v.Const.DType != graph.Float32 {
			return nil, fmt.Errorf("lcs: %q is not a float32 initializer", name)
		}
		data := member.Values[name]
		if v.Const.Len() != len(data) {
			return nil, fmt.Errorf("lcs: initializer %q holds %d values, the level gives %d", name, v.Const.Len(), len(data))
		}
		t := graph.NewFloat32(v.Name, slices.Clone(v.Const.Dims), slices.Clone(data))
		t.DocString = v.Const.DocString
		v.Const = t
	}
	if len(member.Codes) > 0 {
		if err := lcsDequantize(m, byName, member.Codes); err != nil {
			return nil, err
		}
	}
	rep := &LCSStaticReport{Masked: map[string]string{}}
	if len(member.Widths) > 0 {
		if err := lcsNarrow(m, member.Widths, rep); err != nil {
			return nil, err
		}
	}
	if member.Provenance != "" {
		m.SetMetadata("onnxcompress.lcs.level", member.Provenance)
	}
	graph.EliminateDeadNodes(g)
	if err := graph.TopoSort(g); err != nil {
		return nil, err
	}
	return rep, graph.VerifyModel(m)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// lcsDequantize stores each coded tensor as int8 codes, a scalar scale and
// zero point, and a DequantizeLinear whose output every reader of the
// float tensor reads instead.
func lcsDequantize(m *graph.Model, byName map[string]*graph.Value, codes map[string]LCSCodes) error {
	if m.OpsetVersion("") < 10 {
		return fmt.Errorf("lcs: DequantizeLinear needs opset ≥ 10, the model imports %d", m.OpsetVersion(""))
	}
	g := m.Graph
	b := graph.NewBuilder(g)
	var front []*graph.Node
	for _, name := range sortedKeys(codes) {
		v := byName[name]
		c := codes[name]
		if v == nil || v.Const == nil || v.Const.Len() != len(c.Codes) {
			return fmt.Errorf("lcs: codes for %q do not match an initializer of their size", name)
		}
		raw := make([]byte, len(c.Codes))
		for i, q := range c.Codes {
			if q < -128 || q > 127 {
				return fmt.Errorf("lcs: code %d of %q is outside int8", q, name)
			}
			raw[i] = byte(int8(q))
		}
		if c.ZeroPoint < -128 || c.ZeroPoint > 127 {
			return fmt.Errorf("lcs: zero point %d of %q is outside int8", c.ZeroPoint, name)
		}
		q := b.Const(name+"/lcs_q", &graph.Tensor{DType: graph.Int8, Dims: slices.Clone(v.Const.Dims), Raw: raw,
			DocString: fmt.Sprintf("onnxcompress lcs: codes of %s", name)})
		scale := b.Const(name+"/lcs_scale", graph.NewFloat32("", nil, []float32{c.Scale}))
		zero := b.Const(name+"/lcs_zero_point", &graph.Tensor{DType: graph.Int8, Raw: []byte{byte(int8(c.ZeroPoint))}})
		dq := &graph.Node{Name: b.Name(name + "/lcs_dequantize"), OpType: "DequantizeLinear",
			Inputs: []*graph.Value{q, scale, zero}, Outputs: []*graph.Value{b.Value(name + "/lcs_dq")},
			DocString: "onnxcompress lcs: dequantized weight"}
		for _, n := range g.Nodes {
			for i, in := range n.Inputs {
				if in == v {
					n.Inputs[i] = dq.Outputs[0]
				}
			}
		}
		for i, out := range g.Outputs {
			if out == v {
				return fmt.Errorf("lcs: %q is a graph output", g.Outputs[i].Name)
			}
		}
		front = append(front, dq)
	}
	g.Nodes = append(front, g.Nodes...)
	return nil
}

// lcsNarrow slices each narrowed layer's weight and bias to its leading
// output channels and the nodes its channels reach to match. Layers whose
// channels cannot be followed stay masked (their zeros give the same
// outputs).
func lcsNarrow(m *graph.Model, widths map[string]int, rep *LCSStaticReport) error {
	g := m.Graph
	declared := graph.DeclaredTypes(g)
	defer declared.Restore()
	shapes, err := graph.ConcreteInputShapes(g, nil)
	if err != nil {
		return err
	}
	if err := graph.InferShapes(m, shapes); err != nil {
		return err
	}
	for _, l := range FindLayers(g) {
		keepN, ok := widths[l.Node.Name]
		if !ok {
			continue
		}
		idx := graph.NewIndex(g)
		l, err := layerOf(g, idx, l.Node)
		if err != nil {
			return err
		}
		n := l.Out()
		if keepN < 1 || keepN > n {
			return fmt.Errorf("lcs: keep %d of the %d output channels of %s", keepN, n, l.Node.Label())
		}
		if keepN == n {
			continue
		}
		flow := hingeTrace(g, idx, l)
		if flow.blocked != "" {
			rep.Masked[l.Node.Name] = flow.blocked
			continue
		}
		keep := make([]int, keepN)
		for i := range keep {
			keep[i] = i
		}
		wAxis := 0
		if l.Kind == MatMulLayer || l.Kind == GemmLayer && !l.Gemm.TransB {
			wAxis = 1
		}
		w, err := sliceAxis(l.Weight, wAxis, keep)
		if err != nil {
			return err
		}
		var bias *graph.Tensor
		if ax := hingeBiasAxis(l); ax >= 0 {
			if bias, err = sliceAxis(l.BiasConst, ax, keep); err != nil {
				return err
			}
		}
		edits, err := channelEdits(g, flow, keep)
		if err != nil {
			return err
		}
		e := &Emitter{b: graph.NewBuilder(g), layer: l, method: "lcs", opset: m.OpsetVersion("")}
		l.Node.Inputs[1] = e.Tensor("W", w)
		if bias != nil {
			l.Node.Inputs[2] = e.Tensor("B", bias)
		}
		commitChannelEdits(e, flow, edits, keep, fmt.Sprintf(
			"onnxcompress: input channels sliced because lcs narrowed %s from %d to %d output channels", l.Node.Label(), n, keepN))
		rep.Narrowed = append(rep.Narrowed, l.Node.Name)
	}
	return nil
}

// LCSLevelInput is the adaptive graph's level input: an int64 scalar index
// into the members.
const LCSLevelInput = "lcs_level"

// LCSAdaptive joins static members (all with the same inputs and outputs;
// they are consumed) into one model whose int64 scalar input lcs_level
// picks member lcs_level through a chain of If nodes: member i is the then
// branch of If(lcs_level == i), the next If its else branch, and the last
// member answers every other index. Each member's values are renamed with
// the prefix "lcs<i>/" (names must be unique across subgraphs).
func LCSAdaptive(members []*graph.Model) (*graph.Model, error) {
	if len(members) < 2 {
		return nil, fmt.Errorf("lcs: an adaptive graph needs two members or more, got %d", len(members))
	}
	first := members[0]
	if first.OpsetVersion("") < 11 {
		return nil, fmt.Errorf("lcs: the adaptive graph compares int64 levels (Equal, opset ≥ 11); the model imports %d", first.OpsetVersion(""))
	}
	ins := graph.RealInputs(first.Graph)
	// The members' own output values get renamed; keep what the outer
	// graph's outputs are.
	var outs []*graph.Value
	for _, o := range first.Graph.Outputs {
		outs = append(outs, &graph.Value{Name: o.Name, Type: o.Type.Clone()})
	}
	g := &graph.Graph{Name: first.Graph.Name + "_lcs_adaptive"}
	b := graph.NewBuilder(g)
	outer := map[string]*graph.Value{}
	for _, v := range ins {
		nv := b.Input(v.Name, v.Type.Elem, v.Type.Shape)
		outer[v.Name] = nv
	}
	level := b.Input(LCSLevelInput, graph.Int64, graph.Shape{})
	bodies := make([]*graph.Graph, len(members))
	for i, m := range members {
		body, err := lcsBranch(m, i, outer, outs)
		if err != nil {
			return nil, err
		}
		bodies[i] = body
	}
	// Build the chain from the end: the else branch of member i's If is
	// a graph holding member i+1's If.
	elseG := bodies[len(bodies)-1]
	for i := len(bodies) - 2; i >= 0; i-- {
		var host *graph.Graph
		var hb *graph.Builder
		if i == 0 {
			host, hb = g, b
		} else {
			host = &graph.Graph{Name: fmt.Sprintf("lcs_choose%d", i)}
			// Every name here carries i, so it is unique model-wide.
			hb = graph.NewBuilder(host)
		}
		idx := hb.Const(fmt.Sprintf("lcs_index%d", i), graph.NewInt64("", nil, []int64{int64(i)}))
		cond := hb.Op("Equal", fmt.Sprintf("lcs_is%d", i), []*graph.Value{level, idx})
		n := hb.Node("If", fmt.Sprintf("lcs_pick%d", i), []*graph.Value{cond}, len(outs),
			&graph.Attr{Name: "then_branch", Kind: graph.AttrGraph, G: bodies[i]},
			&graph.Attr{Name: "else_branch", Kind: graph.AttrGraph, G: elseG})
		for k, o := range outs {
			if i == 0 {
				n.Outputs[k].Name = o.Name
			}
			n.Outputs[k].Type = o.Type.Clone()
			host.Outputs = append(host.Outputs, n.Outputs[k])
		}
		elseG = host
	}
	m := &graph.Model{IRVersion: first.IRVersion, Opsets: slices.Clone(first.Opsets), ProducerName: first.ProducerName,
		ProducerVersion: first.ProducerVersion, Graph: g}
	m.SetMetadata("onnxcompress.lcs.adaptive", fmt.Sprintf("input %s selects one of %d levels", LCSLevelInput, len(members)))
	return m, graph.VerifyModel(m)
}

// lcsBranch makes member i's graph an If branch: no inputs (it reads the
// outer graph's), every other value renamed with the prefix "lcs<i>/".
func lcsBranch(m *graph.Model, i int, outer map[string]*graph.Value, outs []*graph.Value) (*graph.Graph, error) {
	g := m.Graph
	if len(g.Outputs) != len(outs) {
		return nil, fmt.Errorf("lcs: member %d has %d outputs, the first %d", i, len(g.Outputs), len(outs))
	}
	for k, o := range g.Outputs {
		if o.Name != outs[k].Name {
			return nil, fmt.Errorf("lcs: member %d output %d is %s, the first's %s", i, k, o.Name, outs[k].Name)
		}
	}
	prefix := fmt.Sprintf("lcs%d/", i)
	inputOf := map[*graph.Value]*graph.Value{}
	for _, v := range graph.RealInputs(g) {
		o, ok := outer[v.Name]
		if !ok {
			return nil, fmt.Errorf("lcs: member %d reads input %s the first member does not have", i, v.Name)
		}
		inputOf[v] = o
	}
	renamed := map[*graph.Value]bool{}
	rename := func(v *graph.Value) {
		if v != nil && inputOf[v] == nil && !renamed[v] {
			renamed[v] = true
			v.Name = prefix + v.Name
		}
	}
	for _, v := range g.Initializers {
		rename(v)
	}
	for _, n := range g.Nodes {
		n.Name = prefix + n.Name
		for k, v := range n.Inputs {
			if o := inputOf[v]; o != nil {
				n.Inputs[k] = o
			}
			rename(v)
		}
		for _, v := range n.Outputs {
			rename(v)
		}
	}
	body := &graph.Graph{Name: fmt.Sprintf("lcs_level%d", i), Outputs: g.Outputs, Initializers: g.Initializers, Nodes: g.Nodes}
	return body, nil
}

// LCSActivationNodes names the scalar initializers of one layer's input
// fake quantizer (lcs.md B.5), which training and each level set:
// y = x + gate·(x̂ − x), x̂ = (Clip(Round(x·inv_scale) + zero, qmin, qmax) − zero)·scale.
// With gate 0 the layer reads its input unchanged.
type LCSActivationNodes struct {
	Layer, Input                            string
	InvScale, Scale, Zero, QMin, QMax, Gate string
}

// LCSActivationQuant puts a fake quantizer, off (gate 0), in front of the
// data input of each named layer, from standard ops (Mul, Round, Add, Clip,
// Sub; opset ≥ 11 for Round and Clip with inputs). Round trains
// straight-through in this project's runtime.
func LCSActivationQuant(m *graph.Model, layers []string) ([]LCSActivationNodes, error) {
	if m.OpsetVersion("") < 11 {
		return nil, fmt.Errorf("lcs: activation fake-quantization needs opset ≥ 11 (Round, Clip with inputs), the model imports %d", m.OpsetVersion(""))
	}
	g := m.Graph
	b := graph.NewBuilder(g)
	byName := map[string]*graph.Node{}
	for _, n := range g.Nodes {
		byName[n.Name] = n
	}
	var out []LCSActivationNodes
	for _, name := range layers {
		n := byName[name]
		if n == nil || len(n.Inputs) == 0 || n.Inputs[0] == nil {
			return nil, fmt.Errorf("lcs: no layer %q with a data input", name)
		}
		x := n.Inputs[0]
		base := n.Label() + "/lcs_act_"
		scalar := func(suffix string, v float32) *graph.Value {
			return b.Const(base+suffix, graph.NewFloat32("", nil, []float32{v}))
		}
		a := LCSActivationNodes{Layer: n.Name, Input: x.Name}
		inv, scale, zero := scalar("inv_scale", 1), scalar("scale", 1), scalar("zero_point", 0)
		qmin, qmax, gate := scalar("qmin", -128), scalar("qmax", 127), scalar("gate", 0)
		a.InvScale, a.Scale, a.Zero, a.QMin, a.QMax, a.Gate = inv.Name, scale.Name, zero.Name, qmin.Name, qmax.Name, gate.Name
		start := len(g.Nodes)
		q := b.Op("Add", base+"shift", []*graph.Value{b.Op("Round", base+"round", []*graph.Value{b.Op("Mul", base+"scaled", []*graph.Value{x, inv})}), zero})
		q = b.Op("Clip", base+"clip", []*graph.Value{q, qmin, qmax})
		xq := b.Op("Mul", base+"dequantized", []*graph.Value{b.Op("Sub", base+"unshift", []*graph.Value{q, zero}), scale})
		y := b.Op("Add", base+"out", []*graph.Value{x, b.Op("Mul", base+"gated", []*graph.Value{b.Op("Sub", base+"error", []*graph.Value{xq, x}), gate})})
		for _, nn := range g.Nodes[start:] {
			nn.DocString = "onnxcompress lcs: fake-quantized input of " + n.Label()
		}
		n.Inputs[0] = y
		out = append(out, a)
	}
	if err := graph.TopoSort(g); err != nil {
		return nil, err
	}
	return out, graph.VerifyModel(m)
}
