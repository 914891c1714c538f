package graph

import "fmt"

// Model is a whole ONNX model: the main graph plus model-level metadata.
type Model struct {
	IRVersion       int64
	Opsets          []OpsetImport
	ProducerName    string
	ProducerVersion string
	Domain          string
	ModelVersion    int64
	DocString       string
	Metadata        []StringPair
	Graph           *Graph
	// Opaque is codec-owned: what the codec needs to write back the parts of the
	// model the IR does not model (functions, training info, unknown fields).
	Opaque any
}

// OpsetImport names an operator set a model uses.
type OpsetImport struct {
	Domain  string // "" and "ai.onnx" both mean the default domain
	Version int64
}

// StringPair is one metadata_props entry.
type StringPair struct{ Key, Value string }

// OpsetVersion returns the imported version of domain ("" for the default
// domain), or 0 when the model does not import it.
func (m *Model) OpsetVersion(domain string) int64 {
	for _, o := range m.Opsets {
		if o.Domain == domain || (isDefaultDomain(domain) && isDefaultDomain(o.Domain)) {
			return o.Version
		}
	}
	return 0
}

// SetMetadata sets (or adds) one metadata_props entry, keeping entry order.
func (m *Model) SetMetadata(key, value string) {
	for i := range m.Metadata {
		if m.Metadata[i].Key == key {
			m.Metadata[i].Value = value
			return
		}
	}
	m.Metadata = append(m.Metadata, StringPair{key, value})
}

func isDefaultDomain(d string) bool { return d == "" || d == "ai.onnx" }

// Graph is an ONNX graph: main graph or the body of an If/Loop/Scan.
type Graph struct {
	Name      string
	DocString string
	Inputs    []*Value
	Outputs   []*Value
	// Initializers are the constant values, in file order. A value can be both
	// an initializer and a graph input (a default that callers may override).
	Initializers []*Value
	// ValueInfo lists values that carry a type annotation in the file, in order.
	ValueInfo []*Value
	Nodes     []*Node
	Opaque    any // codec-owned
}

// Value is an edge: a graph input, an initializer, or a node output.
type Value struct {
	Name string
	// Type is the declared or inferred type; nil when unknown.
	Type *ValueType
	// Const holds the data of an initializer; nil otherwise.
	Const     *Tensor
	DocString string
	Opaque    any // codec-owned
}

// IsConst reports whether the value is an initializer.
func (v *Value) IsConst() bool { return v != nil && v.Const != nil }

// ValueType is the type of a value. Only tensor types are modelled; other ONNX
// types (sequence, map, optional) keep Elem Undefined and travel in Opaque.
type ValueType struct {
	Elem     DType
	HasShape bool // false: rank unknown
	Shape    Shape
	Opaque   any // codec-owned
}

// Dim is one dimension: a known size, a symbolic name, or unknown (Value < 0
// and Param "").
type Dim struct {
	Value int64
	Param string
	// Denotation is ONNX's optional dimension denotation, kept for fidelity.
	Denotation string
}

// Known reports whether the dimension has a concrete size.
func (d Dim) Known() bool { return d.Param == "" && d.Value >= 0 }

func (d Dim) String() string {
	switch {
	case d.Param != "":
		return d.Param
	case d.Value < 0:
		return "?"
	}
	return fmt.Sprint(d.Value)
}

// Shape is a list of dimensions.
type Shape []Dim

// KnownShape builds a Shape of concrete sizes.
func KnownShape(dims ...int64) Shape {
	s := make(Shape, len(dims))
	for i, d := range dims {
		s[i] = Dim{Value: d}
	}
	return s
}

// Ints returns the concrete sizes, and false when any dimension is not known.
func (s Shape) Ints() ([]int64, bool) {
	out := make([]int64, len(s))
	for i, d := range s {
		if !d.Known() {
			return nil, false
		}
		out[i] = d.Value
	}
	return out, true
}

func (s Shape) String() string {
	b := []byte{'['}
	for i, d := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, d.String()...)
	}
	return string(append(b, ']'))
}

// Node is one operator application.
type Node struct {
	Name   string
	OpType string
	Domain string
	// Inputs may contain nil for an omitted optional input ("" in ONNX).
	Inputs    []*Value
	Outputs   []*Value
	Attrs     []*Attr // file order
	DocString string
	Opaque    any // codec-owned
}

// AttrKind matches ONNX AttributeProto.AttributeType numbering.
type AttrKind int32

const (
	AttrUndefined     AttrKind = 0
	AttrFloat         AttrKind = 1
	AttrInt           AttrKind = 2
	AttrString        AttrKind = 3
	AttrTensor        AttrKind = 4
	AttrGraph         AttrKind = 5
	AttrFloats        AttrKind = 6
	AttrInts          AttrKind = 7
	AttrStrings       AttrKind = 8
	AttrTensors       AttrKind = 9
	AttrGraphs        AttrKind = 10
	AttrSparseTensor  AttrKind = 11
	AttrSparseTensors AttrKind = 12
	AttrTypeProto     AttrKind = 13
	AttrTypeProtos    AttrKind = 14
)

// Attr is a node attribute. Exactly the field matching Kind is meaningful.
// Sparse-tensor and type-proto attributes are not modelled; their content
// travels in Opaque.
type Attr struct {
	Name      string
	Kind      AttrKind
	F         float32
	I         int64
	S         []byte
	T         *Tensor
	G         *Graph
	Floats    []float32
	Ints      []int64
	Strings   [][]byte
	Tensors   []*Tensor
	Graphs    []*Graph
	RefName   string // ref_attr_name, inside functions
	DocString string
	Opaque    any // codec-owned
}

// Attr returns the attribute called name, or nil.
func (n *Node) Attr(name string) *Attr {
	for _, a := range n.Attrs {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// AttrInt returns an INT attribute, or def when absent.
func (n *Node) AttrInt(name string, def int64) int64 {
	if a := n.Attr(name); a != nil && a.Kind == AttrInt {
		return a.I
	}
	return def
}

// AttrFloat returns a FLOAT attribute, or def when absent.
func (n *Node) AttrFloat(name string, def float32) float32 {
	if a := n.Attr(name); a != nil && a.Kind == AttrFloat {
		return a.F
	}
	return def
}

// AttrString returns a STRING attribute, or def when absent.
func (n *Node) AttrString(name, def string) string {
	if a := n.Attr(name); a != nil && a.Kind == AttrString {
		return string(a.S)
	}
	return def
}

// AttrInts returns an INTS attribute (not copied), or def when absent.
func (n *Node) AttrInts(name string, def []int64) []int64 {
	if a := n.Attr(name); a != nil && a.Kind == AttrInts {
		return a.Ints
	}
	return def
}

// AttrFloats returns a FLOATS attribute (not copied), or def when absent.
func (n *Node) AttrFloats(name string, def []float32) []float32 {
	if a := n.Attr(name); a != nil && a.Kind == AttrFloats {
		return a.Floats
	}
	return def
}

// SetAttr replaces the attribute of the same name, or appends it.
func (n *Node) SetAttr(a *Attr) {
	for i, old := range n.Attrs {
		if old.Name == a.Name {
			n.Attrs[i] = a
			return
		}
	}
	n.Attrs = append(n.Attrs, a)
}

// Input returns input i, or nil when absent or omitted.
func (n *Node) Input(i int) *Value {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return nil
}

// IsDefaultDomain reports whether the node is a standard ONNX operator.
func (n *Node) IsDefaultDomain() bool { return isDefaultDomain(n.Domain) }

// Label names the node for messages: its name, or op and first output.
func (n *Node) Label() string {
	if n.Name != "" {
		return n.Name
	}
	if len(n.Outputs) > 0 && n.Outputs[0] != nil {
		return n.OpType + "→" + n.Outputs[0].Name
	}
	return n.OpType
}

// Helpers to build attributes.

func IntAttr(name string, v int64) *Attr     { return &Attr{Name: name, Kind: AttrInt, I: v} }
func FloatAttr(name string, v float32) *Attr { return &Attr{Name: name, Kind: AttrFloat, F: v} }
func StringAttr(name, v string) *Attr        { return &Attr{Name: name, Kind: AttrString, S: []byte(v)} }
func IntsAttr(name string, v ...int64) *Attr { return &Attr{Name: name, Kind: AttrInts, Ints: v} }
func FloatsAttr(name string, v ...float32) *Attr {
	return &Attr{Name: name, Kind: AttrFloats, Floats: v}
}
func TensorAttr(name string, t *Tensor) *Attr { return &Attr{Name: name, Kind: AttrTensor, T: t} }
