package onnxcompress

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/onnxcompress/onnxcompress/finetune"
	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/rewrite"
)

// LCS (learning compressible subspaces, lcs.md): TrainLCS trains a model
// whose weights work at every compression level of a regime; the result is
// saved as one ONNX file (SaveLCS) that runs as the uncompressed model and
// carries the second endpoint and the layout; LCSLevelModel materialises
// the static model of any level, LCSCurve scores a grid of them, and
// LCSAdaptive joins several into one graph with a level input.

// The LCS vocabulary, from package finetune.
type (
	// LCSOptions configure TrainLCS (Tensors may be left empty: the layout
	// then follows lcs.md B.1/B.2).
	LCSOptions = finetune.LCSOptions
	// LCSResult is what TrainLCS did; Subspace holds the trained endpoints.
	LCSResult = finetune.LCSResult
	// LCSSubspace is a trained subspace.
	LCSSubspace = finetune.LCSSubspace
)

// lcsMetadataKey holds the subspace's layout in a saved model; each line's
// second endpoint ω₀ is stored as the initializer "<name>/lcs_w0".
const (
	lcsMetadataKey = "onnxcompress.lcs"
	lcsEnd0Suffix  = "/lcs_w0"
)

// TrainLCS trains student (in place: it ends holding ω₁, the uncompressed
// end) as an LCS subspace by distillation from teacher.
func TrainLCS(ctx context.Context, student, teacher *graph.Model, train, test *dataset.Dataset, opts LCSOptions) (*LCSResult, error) {
	if len(opts.Tensors) == 0 {
		tensors, err := finetune.LCSLayout(student, opts.Mode, opts.Subspace)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", finetune.ErrBadOptions, err)
		}
		opts.Tensors = tensors
	}
	if opts.Mode == finetune.LCSQuantized && !opts.WeightsOnly && len(opts.Activations) == 0 {
		// Each quantized layer's input gets a fake quantizer too (lcs.md
		// B.2, B.5), taking the bit width of the layer's weight.
		weightOf := map[string]string{}
		var layers []string
		for _, t := range opts.Tensors {
			if t.Quantize && t.Layer != "" && weightOf[t.Layer] == "" {
				weightOf[t.Layer] = t.Name
				layers = append(layers, t.Layer)
			}
		}
		nodes, err := rewrite.LCSActivationQuant(student, layers)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", finetune.ErrBadOptions, err)
		}
		for _, n := range nodes {
			opts.Activations = append(opts.Activations, finetune.LCSActivation{Layer: n.Layer, Weight: weightOf[n.Layer],
				Input: n.Input, InvScale: n.InvScale, Scale: n.Scale, Zero: n.Zero, QMin: n.QMin, QMax: n.QMax, Gate: n.Gate})
		}
	}
	return finetune.RunLCS(ctx, student, teacher, train, test, opts)
}

type lcsMetadata struct {
	Mode        string                   `json:"mode"`
	Subspace    string                   `json:"subspace"`
	Tensors     []finetune.LCSTensor     `json:"tensors"`
	Activations []finetune.LCSActivation `json:"activations,omitempty"`
}

// SaveLCS writes m with the subspace's ω₁ (or point) in its initializers,
// so the file runs as the uncompressed model, plus ω₀ of each line and the
// layout as metadata. The write is atomic.
func SaveLCS(path string, m *graph.Model, s *LCSSubspace) error {
	out, err := Clone(m)
	if err != nil {
		return err
	}
	if err := setFloat32s(out, s.Uncompressed()); err != nil {
		return err
	}
	b := graph.NewBuilder(out.Graph)
	for _, t := range s.Tensors {
		if w0, ok := s.End0[t.Name]; ok {
			dims := make([]int64, len(s.Shapes[t.Name]))
			for i, d := range s.Shapes[t.Name] {
				dims[i] = int64(d)
			}
			v := b.Const(t.Name+lcsEnd0Suffix, graph.NewFloat32("", dims, slices.Clone(w0)))
			if v.Name != t.Name+lcsEnd0Suffix {
				return fmt.Errorf("%s: the model already has a value named %s", path, t.Name+lcsEnd0Suffix)
			}
		}
	}
	meta, err := json.Marshal(lcsMetadata{Mode: s.Mode, Subspace: s.Subspace, Tensors: s.Tensors, Activations: s.Activations})
	if err != nil {
		return err
	}
	out.SetMetadata(lcsMetadataKey, string(meta))
	return Save(path, out)
}

// LoadLCS reads a model SaveLCS wrote: the model (without the ω₀
// initializers) and its subspace.
func LoadLCS(path string) (*graph.Model, *LCSSubspace, error) {
	m, err := Load(path)
	if err != nil {
		return nil, nil, err
	}
	s, err := LCSFromModel(m)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, s, nil
}

// LCSFromModel takes the subspace out of a model SaveLCS wrote, removing
// the ω₀ initializers from m.
func LCSFromModel(m *graph.Model) (*LCSSubspace, error) {
	var raw string
	for _, p := range m.Metadata {
		if p.Key == lcsMetadataKey {
			raw = p.Value
		}
	}
	if raw == "" {
		return nil, fmt.Errorf("no LCS subspace in the model (metadata %q missing: train one with compress --method lcs)", lcsMetadataKey)
	}
	var meta lcsMetadata
	if err := json.Unmarshal([]byte(raw), &meta); err != nil {
		return nil, fmt.Errorf("metadata %q: %w", lcsMetadataKey, err)
	}
	if _, err := finetune.LCSGrid(meta.Mode); err != nil {
		return nil, fmt.Errorf("metadata %q: %w", lcsMetadataKey, err)
	}
	s := &LCSSubspace{Mode: meta.Mode, Subspace: meta.Subspace, Tensors: meta.Tensors, Activations: meta.Activations,
		Shapes: map[string][]int{}, End0: map[string][]float32{}, End1: map[string][]float32{}}
	byName := map[string]*graph.Value{}
	for _, v := range m.Graph.Initializers {
		byName[v.Name] = v
	}
	read := func(name string) ([]float32, []int, error) {
		v := byName[name]
		if v == nil || v.Const == nil || v.Const.DType != graph.Float32 {
			return nil, nil, fmt.Errorf("LCS tensor %q is not a float32 initializer", name)
		}
		w, err := v.Const.Float32s()
		if err != nil {
			return nil, nil, fmt.Errorf("initializer %q: %w", name, err)
		}
		for i, x := range w {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, nil, fmt.Errorf("initializer %q: element %d is %g", name, i, x)
			}
		}
		shape := make([]int, len(v.Const.Dims))
		for i, d := range v.Const.Dims {
			shape[i] = int(d)
		}
		return slices.Clone(w), shape, nil
	}
	drop := map[*graph.Value]bool{}
	for _, t := range s.Tensors {
		w, shape, err := read(t.Name)
		if err != nil {
			return nil, err
		}
		s.End1[t.Name], s.Shapes[t.Name] = w, shape
		if !t.Line {
			continue
		}
		w0, shape0, err := read(t.Name + lcsEnd0Suffix)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(shape, shape0) {
			return nil, fmt.Errorf("LCS endpoints of %q have shapes %v and %v", t.Name, shape0, shape)
		}
		s.End0[t.Name] = w0
		drop[byName[t.Name+lcsEnd0Suffix]] = true
	}
	inits := m.Graph.Initializers[:0]
	for _, v := range m.Graph.Initializers {
		if !drop[v] {
			inits = append(inits, v)
		}
	}
	m.Graph.Initializers = inits
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("metadata %q: %w", lcsMetadataKey, err)
	}
	return s, nil
}

func setFloat32s(m *graph.Model, values map[string][]float32) error {
	for _, v := range m.Graph.Initializers {
		if w, ok := values[v.Name]; ok {
			if v.Const.Len() != len(w) {
				return fmt.Errorf("initializer %q holds %d values, the subspace %d", v.Name, v.Const.Len(), len(w))
			}
			t := graph.NewFloat32(v.Name, slices.Clone(v.Const.Dims), slices.Clone(w))
			t.DocString = v.Const.DocString
			v.Const = t
		}
	}
	return nil
}

// LCSMember is the data of one level: the compressed weights, and for
// the static graph the codes or narrowed widths.
func LCSMember(s *LCSSubspace, level float64) (rewrite.LCSMember, error) {
	w, err := s.Weights(level)
	if err != nil {
		return rewrite.LCSMember{}, err
	}
	member := rewrite.LCSMember{Values: w, Provenance: fmt.Sprintf("%s %s level %s", s.Mode, s.Subspace, FormatLevel(level))}
	switch s.Mode {
	case finetune.LCSQuantized:
		codes, err := s.Codes(level)
		if err != nil {
			return member, err
		}
		member.Codes = map[string]rewrite.LCSCodes{}
		for name, c := range codes {
			member.Codes[name] = rewrite.LCSCodes{Codes: c.Codes, Scale: c.Affine.Scale, ZeroPoint: c.Affine.ZeroPoint}
			delete(member.Values, name)
		}
	case finetune.LCSStructured:
		member.Widths = map[string]int{}
		for _, t := range s.Tensors {
			if t.WidthChannels > 0 && t.Layer != "" {
				member.Widths[t.Layer] = finetune.LCSWidthChannels(t.WidthChannels, level)
			}
		}
	}
	return member, nil
}

// FormatLevel writes a level as the file names and reports show it.
func FormatLevel(level float64) string { return strconv.FormatFloat(level, 'g', -1, 64) }

// LCSLevelModel is the static model of one level, built from a copy of m
// (the model the subspace was trained on).
func LCSLevelModel(m *graph.Model, s *LCSSubspace, level float64) (*graph.Model, *rewrite.LCSStaticReport, error) {
	member, err := LCSMember(s, level)
	if err != nil {
		return nil, nil, err
	}
	out, err := Clone(m)
	if err != nil {
		return nil, nil, err
	}
	rep, err := rewrite.LCSStatic(out, member)
	if err != nil {
		return nil, nil, err
	}
	return out, rep, nil
}

// LCSPoint is one level's static model scored: accuracy and size.
type LCSPoint struct {
	Level    float64                  `json:"level"`
	Accuracy float64                  `json:"accuracy"`
	Loss     float64                  `json:"loss"`
	Size     LCSSize                  `json:"size"`
	Static   *rewrite.LCSStaticReport `json:"static,omitempty"`
}

// LCSSize counts what a static model stores in its weighted layers
// (Conv, Gemm, MatMul weights and biases, their codes).
type LCSSize struct {
	// Params are the stored elements; NonZero those not zero (codes all
	// count).
	Params  int64 `json:"params"`
	NonZero int64 `json:"nonzero"`
	// Bits is the storage with zeros skipped and codes packed at their bit
	// width: Σ nonzero floats·32 + Σ codes·b.
	Bits int64 `json:"bits"`
	// Fraction is Bits over the uncompressed model's 32·Params.
	Fraction float64 `json:"fraction"`
}

// lcsSize measures a static model; bits is the codes' width.
func lcsSize(m *graph.Model, bits int) LCSSize {
	var sz LCSSize
	g := m.Graph
	idx := graph.NewIndex(g)
	seen := map[*graph.Value]bool{}
	var count func(v *graph.Value)
	count = func(v *graph.Value) {
		if v == nil || seen[v] {
			return
		}
		seen[v] = true
		if v.Const != nil {
			n := int64(v.Const.Len())
			sz.Params += n
			switch v.Const.DType {
			case graph.Int8:
				sz.NonZero += n
				sz.Bits += n * int64(bits)
			default:
				w, _ := v.Const.Float64s()
				nonzero := int64(0)
				for _, x := range w {
					if x != 0 {
						nonzero++
					}
				}
				sz.NonZero += nonzero
				sz.Bits += 32 * nonzero
			}
			return
		}
		if p := idx.Producer(v); p != nil && p.OpType == "DequantizeLinear" {
			count(p.Input(0))
		}
	}
	for _, n := range g.Nodes {
		if n.OpType == "Conv" || n.OpType == "Gemm" || n.OpType == "MatMul" {
			count(n.Input(1))
			count(n.Input(2))
		}
	}
	return sz
}

// LCSModelSize measures sm, the static model of level, against m, the
// model the subspace was trained on.
func LCSModelSize(m, sm *graph.Model, s *LCSSubspace, level float64) LCSSize {
	bits := 32
	if s.Mode == finetune.LCSQuantized {
		bits = int(level)
	}
	sz := lcsSize(sm, bits)
	if dense := lcsSize(m, 32); dense.Params > 0 {
		sz.Fraction = float64(sz.Bits) / float64(32*dense.Params)
	}
	return sz
}

// LCSAdaptive joins static level models (consumed) into one graph whose
// int64 scalar input "lcs_level" (an index into them) picks one through a
// chain of If nodes (lcs.md B.7). This project's runtime does not run If;
// ONNX Runtime does.
func LCSAdaptive(members []*graph.Model) (*graph.Model, error) { return rewrite.LCSAdaptive(members) }

// SwapNorms replaces every BatchNormalization of m by GroupNorm ("group",
// up to groups groups) or InstanceNorm ("instance"), built from ops this
// runtime trains through; the model must then be retrained. It returns how
// many norms it replaced.
func SwapNorms(m *graph.Model, kind string, groups int) (int, error) {
	return rewrite.SwapNorms(m, kind, groups)
}

// LCSCurve builds the static model of each level, scores it on d, and
// measures its size relative to the level-1 (uncompressed) model.
func LCSCurve(ctx context.Context, m *graph.Model, s *LCSSubspace, levels []float64, d *dataset.Dataset, opts finetune.EvalOptions) ([]LCSPoint, error) {
	var out []LCSPoint
	for _, level := range levels {
		sm, rep, err := LCSLevelModel(m, s, level)
		if err != nil {
			return out, fmt.Errorf("level %s: %w", FormatLevel(level), err)
		}
		r, err := finetune.Evaluate(ctx, sm, d, opts)
		if err != nil {
			return out, fmt.Errorf("level %s: %w", FormatLevel(level), err)
		}
		p := LCSPoint{Level: level, Accuracy: r.Accuracy, Loss: r.Loss, Size: LCSModelSize(m, sm, s, level)}
		if len(rep.Narrowed) > 0 || len(rep.Masked) > 0 {
			p.Static = rep
		}
		out = append(out, p)
	}
	return out, nil
}
