package runtime

import (
	"errors"
	"fmt"
	"slices"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Options configure a Session.
type Options struct {
	// Threads bounds the worker threads of kernels and of the BLAS; 0 means
	// one per CPU core.
	Threads int
	// Backend selects the GEMM: "go", "openblas", or "" for automatic
	// (see the package doc; overridable by $ONNXCOMPRESS_BLAS).
	Backend string
	// ExtraOutputs names intermediate values Run returns besides the graph
	// outputs (activations for calibration and probing). They are kept out
	// of fusion and buffer reuse.
	ExtraOutputs []string
}

// Session runs one model many times. It is not safe for concurrent Runs.
type Session struct {
	model   *graph.Model
	backend Backend
	threads int

	slots    []*Tensor      // one per value: constants, inputs, intermediates
	constant []bool         // slot holds a constant (initializer or folded)
	slotOf   map[string]int // value name → slot
	inputs   []sessionInput // graph inputs the caller may feed
	outputs  []int          // slots of the graph outputs
	outNames []string
	steps    []step
	pool     pool
	// outputHeaders are the slots handed to the caller after a run; they get
	// fresh buffers so the pool keeps its own.
	outputHeaders map[*Tensor]bool
}

type sessionInput struct {
	name  string
	slot  int
	dtype graph.DType
	shape graph.Shape
	// hasDefault: the input is also an initializer and may be omitted.
	hasDefault bool
}

// step is one node to execute with its slots and the slots that die after it.
type step struct {
	node    *graph.Node
	run     kernelFunc
	in, out []int // -1 for omitted inputs
	free    []int // intermediate slots whose last use is this step
	inBuf   []*Tensor
	outBuf  []*Tensor
	fused   *graph.Node // activation node folded into this one, if any
	constIn []bool      // which inputs are constants
}

// NewSession checks that every node of m can run (naming the first node
// that cannot), folds nodes whose inputs are all constant, and plans when
// each intermediate buffer can be recycled.
func NewSession(m *graph.Model, opts Options) (*Session, error) {
	if m == nil || m.Graph == nil {
		return nil, errors.New("runtime: model has no graph")
	}
	g := m.Graph
	opset := m.OpsetVersion("")
	if opset == 0 {
		opset = 1
	}
	be, err := newBackend(opts.Backend, opts.Threads)
	if err != nil {
		return nil, err
	}
	s := &Session{model: m, backend: be, threads: effectiveThreads(opts.Threads), slotOf: map[string]int{}}

	newSlot := func(name string) int {
		s.slots = append(s.slots, &Tensor{})
		s.constant = append(s.constant, false)
		s.slotOf[name] = len(s.slots) - 1
		return len(s.slots) - 1
	}
	for _, v := range g.Initializers {
		if _, dup := s.slotOf[v.Name]; dup {
			return nil, fmt.Errorf("runtime: initializer %q defined twice", v.Name)
		}
		t, err := FromGraph(v.Const)
		if err != nil {
			return nil, fmt.Errorf("runtime: initializer %q: %w", v.Name, err)
		}
		i := newSlot(v.Name)
		s.slots[i], s.constant[i] = t, true
	}
	for _, v := range g.Inputs {
		in := sessionInput{name: v.Name}
		if v.Type == nil || !v.Type.HasShape {
			return nil, fmt.Errorf("runtime: graph input %q has no known rank", v.Name)
		}
		in.dtype, in.shape = v.Type.Elem, v.Type.Shape
		if !supportedDType(in.dtype) {
			return nil, fmt.Errorf("runtime: graph input %q has dtype %s: %w", v.Name, in.dtype, ErrUnsupported)
		}
		if i, ok := s.slotOf[v.Name]; ok {
			in.slot, in.hasDefault = i, true
		} else {
			in.slot = newSlot(v.Name)
		}
		s.inputs = append(s.inputs, in)
	}

	for _, n := range g.Nodes {
		run, err := compileNode(n, opset)
		if err != nil {
			return nil, err
		}
		st := step{node: n, run: run}
		for _, v := range n.Inputs {
			if v == nil || v.Name == "" {
				st.in = append(st.in, -1)
				continue
			}
			i, ok := s.slotOf[v.Name]
			if !ok {
				return nil, nodeError(n, fmt.Errorf("input %q is not produced before the node (graph not topologically sorted?)", v.Name))
			}
			st.in = append(st.in, i)
		}
		for _, v := range n.Outputs {
			if v == nil || v.Name == "" {
				st.out = append(st.out, newSlot(""))
				continue
			}
			if _, dup := s.slotOf[v.Name]; dup {
				return nil, nodeError(n, fmt.Errorf("output %q is defined twice", v.Name))
			}
			st.out = append(st.out, newSlot(v.Name))
		}
		delete(s.slotOf, "")
		st.inBuf = make([]*Tensor, len(st.in))
		st.outBuf = make([]*Tensor, len(st.out))
		s.steps = append(s.steps, st)
	}
	outNames := make([]string, 0, len(g.Outputs)+len(opts.ExtraOutputs))
	for _, v := range g.Outputs {
		outNames = append(outNames, v.Name)
	}
	for _, name := range append(outNames, opts.ExtraOutputs...) {
		i, ok := s.slotOf[name]
		if !ok {
			return nil, fmt.Errorf("runtime: output %q is not a value of the graph", name)
		}
		if slices.Contains(s.outNames, name) {
			continue
		}
		s.outputs = append(s.outputs, i)
		s.outNames = append(s.outNames, name)
	}
	if err := s.foldConstants(); err != nil {
		return nil, err
	}
	if err := s.fuseActivations(opset); err != nil {
		return nil, err
	}
	for k := range s.steps {
		st := &s.steps[k]
		st.constIn = make([]bool, len(st.in))
		for j, i := range st.in {
			st.constIn[j] = i >= 0 && s.constant[i]
		}
	}
	s.planLiveness()
	s.outputHeaders = map[*Tensor]bool{}
	for _, i := range s.outputs {
		s.outputHeaders[s.slots[i]] = true
	}
	return s, nil
}

// BackendName names the compute backend, e.g. "cpu/openblas".
func (s *Session) BackendName() string { return s.backend.Name() }

// InputNames lists the graph inputs a Run may feed, in graph order.
func (s *Session) InputNames() []string {
	out := make([]string, len(s.inputs))
	for i, in := range s.inputs {
		out[i] = in.name
	}
	return out
}

// OutputNames lists the values a Run returns: the graph outputs in graph
// order, then Options.ExtraOutputs.
func (s *Session) OutputNames() []string { return append([]string(nil), s.outNames...) }

// foldConstants runs, once, every node whose inputs are all constants
// (Constant nodes, shape arithmetic on weights) and drops it from the plan.
func (s *Session) foldConstants() error {
	kept := s.steps[:0]
	c := &execContext{backend: s.backend, threads: s.threads, pool: &pool{}}
	for _, st := range s.steps {
		foldable := true
		for _, i := range st.in {
			if i >= 0 && !s.constant[i] {
				foldable = false
			}
		}
		if !foldable {
			kept = append(kept, st)
			continue
		}
		for k, i := range st.in {
			st.inBuf[k] = nil
			if i >= 0 {
				st.inBuf[k] = s.slots[i]
			}
		}
		for k, i := range st.out {
			st.outBuf[k] = s.slots[i]
		}
		if err := c.runStep(&st); err != nil {
			return err
		}
		for _, i := range st.out {
			s.constant[i] = true
		}
	}
	s.steps = kept
	return nil
}

// fuseActivations folds a Relu/LeakyRelu/Clip into the Conv or Gemm before
// it when it is the only reader of that output, which then never exists.
func (s *Session) fuseActivations(opset int64) error {
	readers := make([]int, len(s.slots))
	for _, st := range s.steps {
		for _, i := range st.in {
			if i >= 0 {
				readers[i]++
			}
		}
	}
	for _, i := range s.outputs {
		readers[i]++
	}
	producer := map[int]int{}
	for k, st := range s.steps {
		for _, i := range st.out {
			producer[i] = k
		}
	}
	constant := func(v *graph.Value) *Tensor {
		if i, ok := s.slotOf[v.Name]; ok && s.constant[i] {
			return s.slots[i]
		}
		return nil
	}
	removed := make([]bool, len(s.steps))
	for j, st := range s.steps {
		if len(st.in) == 0 || st.in[0] < 0 || readers[st.in[0]] != 1 {
			continue
		}
		k, ok := producer[st.in[0]]
		if !ok || removed[k] || len(s.steps[k].out) != 1 {
			continue
		}
		fuse, ok := fusedKernels[s.steps[k].node.OpType]
		if !ok {
			continue
		}
		act, ok := fusibleActivation(st.node, opset, constant)
		if !ok {
			continue
		}
		run, err := fuse(s.steps[k].node, opset, act)
		if err != nil {
			return nodeError(s.steps[k].node, err)
		}
		s.steps[k].run = run
		s.steps[k].out = []int{st.out[0]}
		s.steps[k].fused = st.node
		removed[j] = true
	}
	kept := s.steps[:0]
	for j, st := range s.steps {
		if !removed[j] {
			kept = append(kept, st)
		}
	}
	s.steps = kept
	return nil
}

// planLiveness records, for each step, the intermediates it is the last
// reader of (or that nobody reads), so Run can recycle their buffers.
func (s *Session) planLiveness() {
	last := make([]int, len(s.slots))
	for i := range last {
		last[i] = -1
	}
	for k, st := range s.steps {
		for _, i := range st.out {
			last[i] = k
		}
		for _, i := range st.in {
			if i >= 0 {
				last[i] = k
			}
		}
	}
	keep := make([]bool, len(s.slots))
	for _, i := range s.outputs {
		keep[i] = true
	}
	for _, in := range s.inputs {
		keep[in.slot] = true
	}
	for i, k := range last {
		if k >= 0 && !keep[i] && !s.constant[i] {
			s.steps[k].free = append(s.steps[k].free, i)
		}
	}
}

// Run executes the model. inputs maps graph input names to tensors (not
// modified); inputs that are also initializers may be omitted. The returned
// tensors belong to the caller.
func (s *Session) Run(inputs map[string]*Tensor) (map[string]*Tensor, error) {
	for name := range inputs {
		if !s.isInput(name) {
			return nil, fmt.Errorf("runtime: %q is not a graph input (inputs: %v)", name, s.InputNames())
		}
	}
	for _, in := range s.inputs {
		t, ok := inputs[in.name]
		if !ok || t == nil {
			if in.hasDefault {
				continue
			}
			return nil, fmt.Errorf("runtime: graph input %q not given", in.name)
		}
		if err := checkInput(in, t); err != nil {
			return nil, err
		}
		s.slots[in.slot] = t
	}
	c := &execContext{backend: s.backend, threads: s.threads, pool: &s.pool, fresh: s.outputHeaders}
	for k := range s.steps {
		st := &s.steps[k]
		for j, i := range st.in {
			st.inBuf[j] = nil
			if i >= 0 {
				st.inBuf[j] = s.slots[i]
			}
		}
		for j, i := range st.out {
			st.outBuf[j] = s.slots[i]
		}
		if err := c.runStep(st); err != nil {
			s.recycleAll()
			return nil, err
		}
		for _, i := range st.free {
			s.pool.release(s.slots[i])
		}
	}
	out := make(map[string]*Tensor, len(s.outputs))
	for j, i := range s.outputs {
		t := s.slots[i]
		if s.constant[i] || s.isInputSlot(i) || out[s.outNames[j]] != nil {
			t = t.Clone()
		} else {
			// Hand the buffer to the caller: the slot gets a fresh one next run.
			cp := *t
			cp.Shape = append([]int(nil), t.Shape...)
			t.F32, t.I64, t.U8, t.I8 = nil, nil, nil, nil
			t = &cp
		}
		out[s.outNames[j]] = t
	}
	return out, nil
}

// recycleAll returns every intermediate buffer after a failed run.
func (s *Session) recycleAll() {
	for i, t := range s.slots {
		if !s.constant[i] && !s.isInputSlot(i) {
			s.pool.release(t)
		}
	}
}

func (s *Session) isInput(name string) bool {
	for _, in := range s.inputs {
		if in.name == name {
			return true
		}
	}
	return false
}

func (s *Session) isInputSlot(i int) bool {
	for _, in := range s.inputs {
		if in.slot == i {
			return true
		}
	}
	return false
}

// checkInput verifies a fed tensor against the declared input type.
func checkInput(in sessionInput, t *Tensor) error {
	if err := t.check(in.name); err != nil {
		return fmt.Errorf("runtime: input: %w", err)
	}
	if t.DType != in.dtype {
		return fmt.Errorf("runtime: input %q is %s, the model declares %s", in.name, t.DType, in.dtype)
	}
	if len(t.Shape) != len(in.shape) {
		return fmt.Errorf("runtime: input %q has shape %v, the model declares %v", in.name, t.Shape, in.shape)
	}
	for i, d := range in.shape {
		if d.Known() && int(d.Value) != t.Shape[i] {
			return fmt.Errorf("runtime: input %q has shape %v, the model declares %v", in.name, t.Shape, in.shape)
		}
	}
	return nil
}

// compileNode checks that n can run here (default domain, a kernel for its
// op, no subgraphs) and prepares its forward kernel; errors name the node.
func compileNode(n *graph.Node, opset int64) (kernelFunc, error) {
	if !n.IsDefaultDomain() {
		return nil, nodeError(n, fmt.Errorf("domain %q is %w", n.Domain, ErrUnsupported))
	}
	compile, ok := forwardKernels[n.OpType]
	if !ok {
		return nil, nodeError(n, fmt.Errorf("op is %w", ErrUnsupported))
	}
	for _, a := range n.Attrs {
		if a.Kind == graph.AttrGraph || a.Kind == graph.AttrGraphs {
			return nil, nodeError(n, fmt.Errorf("subgraph attributes are %w", ErrUnsupported))
		}
	}
	run, err := compile(n, opset)
	if err != nil {
		return nil, nodeError(n, err)
	}
	return run, nil
}
