package rewrite

import (
	"fmt"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Channel-dependency analysis: where a layer's output channels go, found from
// the graph's structure alone. Removing an output channel of a layer is only
// possible when every node that sees the channel can drop it too: per-channel
// ops (BatchNormalization, elementwise activations, pooling) pass it on,
// Concat on the channel axis moves it by an offset, Flatten spreads it over
// a block of features, and weighted consumers (Conv, Gemm) lose the matching
// input slice. Anything else — above all an Add or Mul with another branch
// (a residual), which ties the channel to a channel of that branch — blocks
// the removal (hinge.md A.11, converter rule). A depthwise Conv (one filter
// per channel) passes the channels on and loses the removed ones' filters;
// any other grouped Conv blocks.

// channelFlow is one layer's output channels and every node they reach.
type channelFlow struct {
	producer *graph.Node
	width    int // the producer's output channels
	// passes are the nodes the channels flow through, in the order found.
	passes []channelSite
	// consumers are the weighted nodes whose input channels they are.
	consumers []channelSite
	// blocked says why the channels cannot be removed; "" when they can.
	blocked string
}

// channelSite is a node that sees the producer's channels: they sit at
// channels [offset, offset+width) of the node's total input channels, and
// each channel spans spatial consecutive features (Flatten → Gemm; 1 for a
// tensor that still has its channel axis).
type channelSite struct {
	node    *graph.Node
	offset  int
	total   int
	spatial int
}

// perChannelUnary are ops that act on each element alone (extra inputs, when
// any, must be constant scalars).
var perChannelUnary = map[string]bool{
	"Relu": true, "LeakyRelu": true, "Sigmoid": true, "Tanh": true, "Elu": true, "Selu": true,
	"HardSigmoid": true, "HardSwish": true, "Softplus": true, "Softsign": true, "Identity": true,
	"Abs": true, "Neg": true, "Clip": true, "Dropout": true, "Celu": true, "Gelu": true, "Mish": true,
}

// perChannelPool are pooling ops: each output channel reads one input channel.
var perChannelPool = map[string]bool{
	"MaxPool": true, "AveragePool": true, "LpPool": true,
	"GlobalAveragePool": true, "GlobalMaxPool": true, "GlobalLpPool": true,
}

// coupling ops combine two tensors element by element.
var coupling = map[string]bool{
	"Add": true, "Sub": true, "Mul": true, "Div": true, "Sum": true, "Max": true, "Min": true,
	"Mean": true, "Pow": true, "PRelu": true, "Where": true,
}

// traceChannels follows the output channels of producer (a Conv or Gemm)
// through the graph. It never edits the graph.
func traceChannels(g *graph.Graph, idx *graph.Index, producer *graph.Node) channelFlow {
	f := channelFlow{producer: producer}
	out := producer.Outputs[0]
	width, ok := channelCount(out)
	if !ok {
		f.blocked = fmt.Sprintf("output %s has no known channel count", out.Name)
		return f
	}
	f.width = width
	type frontier struct {
		v    *graph.Value
		site channelSite
	}
	queue := []frontier{{out, channelSite{offset: 0, total: width, spatial: 1}}}
	seen := map[*graph.Node]bool{producer: true}
	block := func(format string, args ...any) channelFlow {
		f.blocked = fmt.Sprintf(format, args...)
		return f
	}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if idx.IsGraphOutput(cur.v) {
			return block("its channels reach the graph output %s", cur.v.Name)
		}
		for _, n := range idx.Consumers(cur.v) {
			if seen[n] {
				return block("its channels reach %s %s along two paths", n.OpType, n.Label())
			}
			seen[n] = true
			slots := inputSlots(n, cur.v)
			site := cur.site
			site.node = n
			if !n.IsDefaultDomain() {
				return block("its channels reach %s %s outside the default domain", n.OpType, n.Label())
			}
			if len(slots) == 0 {
				return block("its channels reach %s %s inside a subgraph", n.OpType, n.Label())
			}
			if n.OpType == "Concat" {
				s, err := concatSite(n, cur.v, site)
				if err != "" {
					return block("%s", err)
				}
				c, ok := channelCount(n.Outputs[0])
				if !ok {
					return block("Concat %s: output has no known channel count", n.Label())
				}
				s.total = c
				f.passes = append(f.passes, s)
				queue = append(queue, frontier{n.Outputs[0], s})
				continue
			}
			if len(slots) != 1 || slots[0] != 0 {
				if coupling[n.OpType] {
					return block("residual coupling: its channels meet another operand at %s %s", n.OpType, n.Label())
				}
				return block("its channels feed input %v of %s %s", slots, n.OpType, n.Label())
			}
			switch {
			case n.OpType == "BatchNormalization", n.OpType == "InstanceNormalization":
				if reason := bnSliceable(g, idx, n, site.total); reason != "" {
					return block("%s", reason)
				}
			case perChannelUnary[n.OpType], perChannelPool[n.OpType]:
				if site.spatial != 1 && perChannelPool[n.OpType] {
					return block("%s %s pools a flattened tensor", n.OpType, n.Label())
				}
				for _, v := range n.Inputs[1:] {
					if t, ok := graph.ConstTensor(g, idx, v); v != nil && (!ok || t.Len() != 1) {
						return block("%s %s has a non-scalar parameter", n.OpType, n.Label())
					}
				}
			case n.OpType == "Flatten":
				dims, ok := featureShape(cur.v)
				if !ok || site.spatial != 1 || len(dims) < 2 {
					return block("Flatten %s: input shape unknown", n.Label())
				}
				axis := n.AttrInt("axis", 1)
				if axis < 0 {
					axis += int64(len(dims))
				}
				if axis != 1 {
					return block("Flatten %s mixes the batch and channel axes (axis %d)", n.Label(), axis)
				}
				sp := 1
				for _, d := range dims[2:] {
					sp *= int(d)
				}
				f.passes = append(f.passes, site)
				queue = append(queue, frontier{n.Outputs[0], channelSite{offset: site.offset, total: site.total, spatial: sp}})
				continue
			case n.OpType == "Conv" && isDepthwiseOver(g, idx, n, site.total):
				// One filter per channel: it passes the channels on, losing
				// the filters (and groups) of the removed ones.
				if site.spatial != 1 {
					return block("depthwise Conv %s reads a flattened tensor", n.Label())
				}
				if b := n.Input(2); b != nil {
					if t, ok := graph.ConstTensor(g, idx, b); !ok || t.Len() != site.total {
						return block("depthwise Conv %s: bias is not a constant of %d channels", n.Label(), site.total)
					}
				}
			case n.OpType == "Conv":
				if reason := convConsumable(g, idx, n, site); reason != "" {
					return block("%s", reason)
				}
				f.consumers = append(f.consumers, site)
				continue
			case n.OpType == "Gemm":
				if reason := gemmConsumable(g, idx, n, site); reason != "" {
					return block("%s", reason)
				}
				f.consumers = append(f.consumers, site)
				continue
			case coupling[n.OpType]:
				return block("residual coupling: its channels meet another operand at %s %s", n.OpType, n.Label())
			default:
				return block("%s %s does not keep channels apart", n.OpType, n.Label())
			}
			for i, o := range n.Outputs {
				if i > 0 && o != nil && (len(idx.Consumers(o)) > 0 || idx.IsGraphOutput(o)) {
					return block("%s %s: its extra output %s is used", n.OpType, n.Label(), o.Name)
				}
			}
			f.passes = append(f.passes, site)
			queue = append(queue, frontier{n.Outputs[0], site})
		}
	}
	return f
}

// inputSlots lists the input positions where n reads v.
func inputSlots(n *graph.Node, v *graph.Value) []int {
	var out []int
	for i, in := range n.Inputs {
		if in == v {
			out = append(out, i)
		}
	}
	return out
}

func channelCount(v *graph.Value) (int, bool) {
	dims, ok := featureShape(v)
	if !ok || len(dims) < 2 {
		return 0, false
	}
	return int(dims[1]), true
}

// featureShape is v's shape with every dimension after the batch known; the
// batch (dimension 0) is returned as -1 when symbolic.
func featureShape(v *graph.Value) ([]int64, bool) {
	if v == nil || v.Type == nil || !v.Type.HasShape || len(v.Type.Shape) == 0 {
		return nil, false
	}
	s := v.Type.Shape
	out := []int64{-1}
	if s[0].Known() {
		out[0] = s[0].Value
	}
	rest, ok := s[1:].Ints()
	return append(out, rest...), ok
}

// concatSite places the channels within a Concat on the channel axis.
func concatSite(n *graph.Node, v *graph.Value, site channelSite) (channelSite, string) {
	dims, ok := featureShape(v)
	if !ok {
		return site, fmt.Sprintf("Concat %s: input shape unknown", n.Label())
	}
	axis := n.AttrInt("axis", 1)
	if axis < 0 {
		axis += int64(len(dims))
	}
	if axis != 1 || site.spatial != 1 {
		return site, fmt.Sprintf("Concat %s joins along axis %d, not the channel axis", n.Label(), axis)
	}
	slots := inputSlots(n, v)
	if len(slots) != 1 {
		return site, fmt.Sprintf("Concat %s reads the channels twice", n.Label())
	}
	before := 0
	for _, in := range n.Inputs[:slots[0]] {
		c, ok := channelCount(in)
		if !ok {
			return site, fmt.Sprintf("Concat %s: input %s has no known channel count", n.Label(), in.Name)
		}
		before += c
	}
	site.offset += before
	return site, ""
}

// bnSliceable also takes InstanceNormalization (scale and bias per channel,
// statistics per sample and channel), which LCS's structured regime uses.
func bnSliceable(g *graph.Graph, idx *graph.Index, n *graph.Node, total int) string {
	if want := map[string]int{"BatchNormalization": 5, "InstanceNormalization": 3}[n.OpType]; len(n.Inputs) != want {
		return fmt.Sprintf("%s %s has %d inputs", n.OpType, n.Label(), len(n.Inputs))
	}
	for _, v := range n.Inputs[1:] {
		t, ok := graph.ConstTensor(g, idx, v)
		if !ok || t.Len() != total || len(t.Dims) != 1 {
			return fmt.Sprintf("%s %s: parameter %s is not a constant of %d channels", n.OpType, n.Label(), nameOf(v), total)
		}
	}
	return ""
}

// isDepthwiseOver reports a Conv with one filter per input channel (group =
// channels, channel multiplier 1).
func isDepthwiseOver(g *graph.Graph, idx *graph.Index, n *graph.Node, channels int) bool {
	w, ok := graph.ConstTensor(g, idx, n.Input(1))
	return ok && len(w.Dims) >= 3 && n.AttrInt("group", 1) == int64(channels) && int(w.Dims[0]) == channels && w.Dims[1] == 1
}

func convConsumable(g *graph.Graph, idx *graph.Index, n *graph.Node, site channelSite) string {
	if n.AttrInt("group", 1) != 1 {
		return fmt.Sprintf("grouped Conv %s reads the channels", n.Label())
	}
	w, ok := graph.ConstTensor(g, idx, n.Input(1))
	if !ok || len(w.Dims) < 3 || int(w.Dims[1]) != site.total {
		return fmt.Sprintf("Conv %s: weight is not a constant over %d input channels", n.Label(), site.total)
	}
	return ""
}

func gemmConsumable(g *graph.Graph, idx *graph.Index, n *graph.Node, site channelSite) string {
	if n.AttrInt("transA", 0) != 0 {
		return fmt.Sprintf("Gemm %s reads the channels transposed", n.Label())
	}
	w, ok := graph.ConstTensor(g, idx, n.Input(1))
	if !ok || len(w.Dims) != 2 {
		return fmt.Sprintf("Gemm %s: weight is not a constant matrix", n.Label())
	}
	in := w.Dims[0]
	if n.AttrInt("transB", 0) != 0 {
		in = w.Dims[1]
	}
	if int(in) != site.total*site.spatial {
		return fmt.Sprintf("Gemm %s: %d input features, the channels give %d", n.Label(), in, site.total*site.spatial)
	}
	return ""
}

func nameOf(v *graph.Value) string {
	if v == nil {
		return "(none)"
	}
	return v.Name
}

// keptIndices lists the indices of a site's total channels (times spatial
// features) that stay when the producer keeps channels keep.
func (s channelSite) keptIndices(width int, keep []int) []int {
	var channels []int
	for c := 0; c < s.offset; c++ {
		channels = append(channels, c)
	}
	for _, k := range keep {
		channels = append(channels, s.offset+k)
	}
	for c := s.offset + width; c < s.total; c++ {
		channels = append(channels, c)
	}
	if s.spatial == 1 {
		return channels
	}
	out := make([]int, 0, len(channels)*s.spatial)
	for _, c := range channels {
		for p := 0; p < s.spatial; p++ {
			out = append(out, c*s.spatial+p)
		}
	}
	return out
}

// sliceAxis keeps the given indices of one axis of t, copying the stored
// bytes: no value changes, whatever the dtype.
func sliceAxis(t *graph.Tensor, axis int, keep []int) (*graph.Tensor, error) {
	if axis < 0 || axis >= len(t.Dims) {
		return nil, fmt.Errorf("tensor %s: no axis %d in %v", t.Name, axis, t.Dims)
	}
	sz := t.DType.Size()
	if sz == 0 || len(t.Raw) != t.Len()*sz {
		return nil, fmt.Errorf("tensor %s: cannot slice %s data", t.Name, t.DType)
	}
	outer := 1
	for _, d := range t.Dims[:axis] {
		outer *= int(d)
	}
	inner := sz
	for _, d := range t.Dims[axis+1:] {
		inner *= int(d)
	}
	n := int(t.Dims[axis])
	raw := make([]byte, 0, outer*len(keep)*inner)
	for o := 0; o < outer; o++ {
		for _, k := range keep {
			if k < 0 || k >= n {
				return nil, fmt.Errorf("tensor %s: index %d outside axis %d of size %d", t.Name, k, axis, n)
			}
			start := (o*n + k) * inner
			raw = append(raw, t.Raw[start:start+inner]...)
		}
	}
	dims := append([]int64(nil), t.Dims...)
	dims[axis] = int64(len(keep))
	return &graph.Tensor{Name: t.Name, DType: t.DType, Dims: dims, Raw: raw}, nil
}
