package runtime

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Reverse-mode differentiation over the runtime's kernels. A Tape runs the
// model's forward pass like a Session (same kernels, no activation fusion,
// trainable initializers never folded), keeps the forward values the
// backward kernels declared they read, and walks the steps in reverse
// calling each op's backward kernel, registered in the *_grad.go file beside
// its forward.

// gradFunc computes the gradients of a node's inputs. in and out are the
// forward values; those the op did not ask to keep carry their dtype and
// shape but no data. dy[i] is the gradient of output i (nil when none flows
// back). For every non-nil dx[i] the kernel must give dx[i] the shape of
// in[i] (through c.alloc/c.allocZero) and write all of it.
type gradFunc func(c *execContext, in, out, dy, dx []*Tensor) error

// gradOp is a node's compiled backward pass.
type gradOp struct {
	grad gradFunc
	// train, when set, replaces the forward kernel in training mode
	// (BatchNormalization with batch statistics, Dropout drawing masks); it
	// may keep state for grad in the closure both share.
	train kernelFunc
	// keepIn lists the inputs whose data grad reads; keepOut says grad reads
	// the outputs' data.
	keepIn  []int
	keepOut bool
}

// gradCompileFunc prepares a node's backward pass once per tape; fwd is the
// node's compiled forward kernel.
type gradCompileFunc func(n *graph.Node, opset int64, fwd kernelFunc, mode trainMode) (*gradOp, error)

// trainMode says how ops that behave differently when training behave.
type trainMode struct {
	batchNormTraining bool
	dropout           bool
	rng               *rand.Rand
}

// backwardKernels maps op types to their backward compilers, registered in
// the *_grad.go files.
var backwardKernels = map[string]gradCompileFunc{}

func registerBackward(f gradCompileFunc, ops ...string) {
	for _, op := range ops {
		if _, dup := backwardKernels[op]; dup {
			panic("runtime: backward registered twice: " + op)
		}
		backwardKernels[op] = f
	}
}

// notDifferentiable lists ops whose outputs are integers or booleans, so no
// gradient flows through them even when they read a trainable value.
var notDifferentiable = map[string]bool{
	"Shape": true, "Size": true, "Equal": true, "Less": true, "LessOrEqual": true,
	"Greater": true, "GreaterOrEqual": true, "Not": true, "And": true, "Or": true,
	"Xor": true, "ArgMax": true, "ArgMin": true, "NonZero": true, "ConstantOfShape": true,
}

// HasBackward reports whether an op type has a backward kernel.
func HasBackward(opType string) bool { _, ok := backwardKernels[opType]; return ok }

// TrainOptions configure a Tape.
type TrainOptions struct {
	Threads int
	Backend string
	// Trainable names the float32 initializers to differentiate with respect
	// to; Tape.Param gives their live values, which an optimizer updates in
	// place between steps.
	Trainable []string
	// InputGrads also differentiates with respect to the float graph inputs
	// (gradient checks, saliency).
	InputGrads bool
	// BatchNormTraining normalises with batch statistics and updates the
	// running mean and variance (PyTorch's rule: unbiased batch variance,
	// ONNX momentum m: running = m·running + (1−m)·batch); otherwise
	// BatchNormalization uses the stored statistics (frozen).
	BatchNormTraining bool
	// Dropout applies Dropout nodes with masks drawn from Seed; otherwise
	// they are the identity.
	Dropout bool
	Seed    uint64
	// ExtraOutputs names intermediate values Forward returns besides the
	// graph outputs and Backward accepts gradients for (feature matching).
	ExtraOutputs []string
}

// Tape runs a model forward and backward. Not safe for concurrent use.
type Tape struct {
	backend Backend
	threads int
	pool    pool

	slots    []*Tensor
	constant []bool // folded or non-trainable initializer
	slotOf   map[string]int
	inputs   []sessionInput
	outputs  []int
	outNames []string
	params   []int // trainable initializer slots, in TrainOptions order
	steps    []tapeStep

	requiresGrad []bool
	keep         []bool // forward data read by some backward kernel
	grads        []*Tensor
	shapes       []*Tensor // dtype and shape of each slot after the forward
	// stale marks slots holding intermediate data of the last forward.
	stale   []int
	forward bool // a forward ran and its backward has not
}

type tapeStep struct {
	step
	grad     *gradOp
	wantGrad bool  // some input requires a gradient
	bwFree   []int // kept slots last read by this step's backward
}

// NewTape prepares m for training steps. It fails, naming the node, when an
// op on the path from a trainable value to an output has no backward kernel.
func NewTape(m *graph.Model, opts TrainOptions) (*Tape, error) {
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
	t := &Tape{backend: be, threads: effectiveThreads(opts.Threads), slotOf: map[string]int{}}
	newSlot := func(name string) int {
		t.slots = append(t.slots, &Tensor{})
		t.constant = append(t.constant, false)
		t.requiresGrad = append(t.requiresGrad, false)
		if name != "" {
			t.slotOf[name] = len(t.slots) - 1
		}
		return len(t.slots) - 1
	}
	trainable := map[string]bool{}
	for _, name := range opts.Trainable {
		trainable[name] = true
	}
	for _, v := range g.Initializers {
		if _, dup := t.slotOf[v.Name]; dup {
			return nil, fmt.Errorf("runtime: initializer %q defined twice", v.Name)
		}
		x, err := FromGraph(v.Const)
		if err != nil {
			return nil, fmt.Errorf("runtime: initializer %q: %w", v.Name, err)
		}
		i := newSlot(v.Name)
		t.slots[i] = x
		if trainable[v.Name] {
			if v.Const.DType != graph.Float32 {
				return nil, fmt.Errorf("runtime: trainable initializer %q is %s, want float32", v.Name, v.Const.DType)
			}
			t.requiresGrad[i] = true
		} else {
			t.constant[i] = true
		}
	}
	for _, name := range opts.Trainable {
		i, ok := t.slotOf[name]
		if !ok || !t.requiresGrad[i] {
			return nil, fmt.Errorf("runtime: trainable %q is not an initializer", name)
		}
		t.params = append(t.params, i)
	}
	for _, v := range g.Inputs {
		if _, isInit := t.slotOf[v.Name]; isInit {
			continue
		}
		if v.Type == nil || !v.Type.HasShape {
			return nil, fmt.Errorf("runtime: graph input %q has no known rank", v.Name)
		}
		in := sessionInput{name: v.Name, dtype: v.Type.Elem, shape: v.Type.Shape, slot: newSlot(v.Name)}
		if opts.InputGrads && in.dtype == graph.Float32 {
			t.requiresGrad[in.slot] = true
		}
		t.inputs = append(t.inputs, in)
	}
	mode := trainMode{batchNormTraining: opts.BatchNormTraining, dropout: opts.Dropout,
		rng: rand.New(rand.NewPCG(opts.Seed, 0x6772616474617065))}
	fold := &execContext{backend: be, threads: t.threads, pool: &pool{}}
	for _, n := range g.Nodes {
		run, err := compileNode(n, opset)
		if err != nil {
			return nil, err
		}
		st := tapeStep{step: step{node: n, run: run}}
		foldable := true
		for _, v := range n.Inputs {
			if v == nil || v.Name == "" {
				st.in = append(st.in, -1)
				continue
			}
			i, ok := t.slotOf[v.Name]
			if !ok {
				return nil, nodeError(n, fmt.Errorf("input %q is not produced before the node (graph not topologically sorted?)", v.Name))
			}
			st.in = append(st.in, i)
			foldable = foldable && t.constant[i]
			st.wantGrad = st.wantGrad || t.requiresGrad[i]
		}
		for _, v := range n.Outputs {
			name := ""
			if v != nil {
				name = v.Name
			}
			if _, dup := t.slotOf[name]; dup && name != "" {
				return nil, nodeError(n, fmt.Errorf("output %q is defined twice", name))
			}
			st.out = append(st.out, newSlot(name))
		}
		st.inBuf = make([]*Tensor, len(st.in))
		st.outBuf = make([]*Tensor, len(st.out))
		st.constIn = make([]bool, len(st.in))
		for j, i := range st.in {
			st.constIn[j] = i >= 0 && t.constant[i]
		}
		if foldable && !(mode.dropout && n.OpType == "Dropout") {
			if err := t.runStep(fold, &st.step); err != nil {
				return nil, err
			}
			for _, i := range st.out {
				t.constant[i] = true
			}
			continue
		}
		if st.wantGrad && !notDifferentiable[n.OpType] {
			gc, ok := backwardKernels[n.OpType]
			if !ok {
				return nil, nodeError(n, fmt.Errorf("no backward kernel: training through %s is %w", n.OpType, ErrUnsupported))
			}
			if st.grad, err = gc(n, opset, run, mode); err != nil {
				return nil, nodeError(n, err)
			}
			for _, i := range st.out {
				t.requiresGrad[i] = true
			}
		} else if gc, ok := backwardKernels[n.OpType]; ok && (n.OpType == "BatchNormalization" && mode.batchNormTraining || n.OpType == "Dropout" && mode.dropout) {
			// Training-mode behaviour applies even where no gradient flows.
			op, err := gc(n, opset, run, mode)
			if err != nil {
				return nil, nodeError(n, err)
			}
			if op.train != nil {
				st.run = op.train
			}
		}
		if st.grad != nil && st.grad.train != nil {
			st.run = st.grad.train
		}
		t.steps = append(t.steps, st)
	}
	for _, v := range g.Outputs {
		i, ok := t.slotOf[v.Name]
		if !ok {
			return nil, fmt.Errorf("runtime: graph output %q is never produced", v.Name)
		}
		t.outputs = append(t.outputs, i)
		t.outNames = append(t.outNames, v.Name)
	}
	for _, name := range opts.ExtraOutputs {
		i, ok := t.slotOf[name]
		if !ok || name == "" {
			return nil, fmt.Errorf("runtime: output %q is not a value of the graph", name)
		}
		if slices.Contains(t.outNames, name) {
			continue
		}
		t.outputs = append(t.outputs, i)
		t.outNames = append(t.outNames, name)
	}
	t.planMemory()
	t.grads = make([]*Tensor, len(t.slots))
	t.shapes = make([]*Tensor, len(t.slots))
	return t, nil
}

// planMemory decides which forward values the backward pass keeps and when
// forward and backward release them.
func (t *Tape) planMemory() {
	t.keep = make([]bool, len(t.slots))
	lastBackward := make([]int, len(t.slots))
	for i := range lastBackward {
		lastBackward[i] = len(t.steps)
	}
	for k, st := range t.steps {
		if st.grad == nil {
			continue
		}
		mark := func(i int) {
			if i >= 0 && !t.constant[i] {
				t.keep[i] = true
				lastBackward[i] = min(lastBackward[i], k)
			}
		}
		for _, j := range st.grad.keepIn {
			if j < len(st.in) {
				mark(st.in[j])
			}
		}
		// Inputs that carry no gradient (shapes, indices) are kept: the
		// backward of data-movement ops reruns the forward on them.
		for _, i := range st.in {
			if i >= 0 && !t.requiresGrad[i] {
				mark(i)
			}
		}
		if st.grad.keepOut {
			for _, i := range st.out {
				mark(i)
			}
		}
	}
	for i, k := range lastBackward {
		if k < len(t.steps) && t.isIntermediate(i) {
			t.steps[k].bwFree = append(t.steps[k].bwFree, i)
		}
	}
	// Forward: release what no backward reads at its last forward use.
	last := make([]int, len(t.slots))
	for i := range last {
		last[i] = -1
	}
	for k, st := range t.steps {
		for _, i := range st.out {
			last[i] = k
		}
		for _, i := range st.in {
			if i >= 0 {
				last[i] = k
			}
		}
	}
	for i, k := range last {
		if k >= 0 && t.isIntermediate(i) && !t.keep[i] && !slices.Contains(t.outputs, i) {
			t.steps[k].free = append(t.steps[k].free, i)
		}
	}
}

// isIntermediate: the slot is computed by a step on every run.
func (t *Tape) isIntermediate(i int) bool {
	if t.constant[i] || slices.Contains(t.params, i) {
		return false
	}
	for _, in := range t.inputs {
		if in.slot == i {
			return false
		}
	}
	return true
}

func (t *Tape) runStep(c *execContext, st *step) error {
	for j, i := range st.in {
		st.inBuf[j] = nil
		if i >= 0 {
			st.inBuf[j] = t.slots[i]
		}
	}
	for j, i := range st.out {
		st.outBuf[j] = t.slots[i]
	}
	return c.runStep(st)
}

// InputNames lists the graph inputs Forward needs.
func (t *Tape) InputNames() []string {
	out := make([]string, len(t.inputs))
	for i, in := range t.inputs {
		out[i] = in.name
	}
	return out
}

// OutputNames lists the values Forward returns: the graph outputs in graph
// order, then TrainOptions.ExtraOutputs.
func (t *Tape) OutputNames() []string { return slices.Clone(t.outNames) }

// Trainable lists the trainable initializers, in TrainOptions order.
func (t *Tape) Trainable() []string {
	names := make([]string, len(t.params))
	for k, i := range t.params {
		names[k] = t.nameOf(i)
	}
	return names
}

func (t *Tape) nameOf(slot int) string {
	for name, i := range t.slotOf {
		if i == slot {
			return name
		}
	}
	return ""
}

// Param returns the live value of an initializer (trainable or not, e.g. a
// BatchNormalization running mean); changing its data changes the next
// Forward. Nil when there is no such initializer.
func (t *Tape) Param(name string) *Tensor {
	i, ok := t.slotOf[name]
	if !ok || !(t.constant[i] || slices.Contains(t.params, i)) || t.slots[i].DType != graph.Float32 {
		return nil
	}
	return t.slots[i]
}

// Grad returns the gradient of the last Backward with respect to a
// trainable initializer or (with InputGrads) a graph input; zeros when no
// gradient reached it, nil for other names.
func (t *Tape) Grad(name string) *Tensor {
	i, ok := t.slotOf[name]
	if !ok || !t.requiresGrad[i] {
		return nil
	}
	if t.grads[i] == nil {
		shape := t.slots[i].Shape
		if t.shapes[i] != nil {
			shape = t.shapes[i].Shape
		}
		t.grads[i] = NewFloat32Tensor(shape, make([]float32, shapeSize(shape)))
	}
	return t.grads[i]
}

// Forward runs the model on inputs, recording what Backward needs. The
// returned tensors belong to the caller.
func (t *Tape) Forward(inputs map[string]*Tensor) (map[string]*Tensor, error) {
	t.releaseForward()
	for _, in := range t.inputs {
		x, ok := inputs[in.name]
		if !ok || x == nil {
			return nil, fmt.Errorf("runtime: graph input %q not given", in.name)
		}
		if err := checkInput(in, x); err != nil {
			return nil, err
		}
		t.slots[in.slot] = x
	}
	c := &execContext{backend: t.backend, threads: t.threads, pool: &t.pool}
	for k := range t.steps {
		st := &t.steps[k]
		if err := t.runStep(c, &st.step); err != nil {
			t.releaseForward()
			return nil, err
		}
		for _, i := range st.out {
			t.stale = append(t.stale, i)
			o := t.slots[i]
			t.shapes[i] = &Tensor{DType: o.DType, Shape: slices.Clone(o.Shape)}
		}
		for _, i := range st.free {
			t.pool.release(t.slots[i])
		}
	}
	for _, in := range t.inputs {
		x := t.slots[in.slot]
		t.shapes[in.slot] = &Tensor{DType: x.DType, Shape: slices.Clone(x.Shape)}
	}
	for _, i := range t.params {
		t.shapes[i] = &Tensor{DType: graph.Float32, Shape: slices.Clone(t.slots[i].Shape)}
	}
	out := make(map[string]*Tensor, len(t.outputs))
	for j, i := range t.outputs {
		out[t.outNames[j]] = t.slots[i].Clone()
	}
	t.forward = true
	return out, nil
}

// releaseForward returns every intermediate buffer of the last forward.
func (t *Tape) releaseForward() {
	for _, i := range t.stale {
		t.pool.release(t.slots[i])
	}
	t.stale = t.stale[:0]
	t.forward = false
}

// Backward propagates outGrads (gradients of the values Forward returned,
// each shaped like its value; missing ones get none) back through the last
// Forward; gradients of an output and of values computed after it add up.
// Afterwards Grad holds the gradients; the forward's buffers are released,
// so each Forward supports one Backward.
func (t *Tape) Backward(outGrads map[string]*Tensor) error {
	if !t.forward {
		return errors.New("runtime: Backward without a Forward before it")
	}
	defer t.releaseForward()
	for i, g := range t.grads {
		if g != nil {
			t.pool.release(g)
			t.grads[i] = nil
		}
	}
	for name, g := range outGrads {
		j := slices.Index(t.outNames, name)
		if j < 0 {
			return fmt.Errorf("runtime: %q is not a graph output (outputs: %v)", name, t.outNames)
		}
		i := t.outputs[j]
		if g.DType != graph.Float32 || !sameShape(g.Shape, t.shapes[i].Shape) {
			return fmt.Errorf("runtime: gradient of %q is %s%v, the output is %v", name, g.DType, g.Shape, t.shapes[i].Shape)
		}
		if !t.requiresGrad[i] {
			continue
		}
		t.accumulate(i, g.Clone())
	}
	c := &execContext{backend: t.backend, threads: t.threads, pool: &t.pool}
	for k := len(t.steps) - 1; k >= 0; k-- {
		st := &t.steps[k]
		if st.grad == nil {
			continue
		}
		dy := make([]*Tensor, len(st.out))
		flows := false
		for j, i := range st.out {
			dy[j] = t.grads[i]
			flows = flows || dy[j] != nil
		}
		if flows {
			if err := t.backwardStep(c, st, dy); err != nil {
				return err
			}
		}
		for _, i := range st.out {
			if t.grads[i] != nil && t.isIntermediate(i) {
				t.pool.release(t.grads[i])
				t.grads[i] = nil
			}
		}
		for _, i := range st.bwFree {
			t.pool.release(t.slots[i])
		}
	}
	return nil
}

func (t *Tape) backwardStep(c *execContext, st *tapeStep, dy []*Tensor) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = nodeError(st.node, fmt.Errorf("backward kernel failed: %v", r))
		}
	}()
	view := func(i int) *Tensor {
		if i < 0 {
			return nil
		}
		if t.constant[i] || t.keep[i] || !t.isIntermediate(i) {
			return t.slots[i]
		}
		return t.shapes[i]
	}
	in := make([]*Tensor, len(st.in))
	dx := make([]*Tensor, len(st.in))
	for j, i := range st.in {
		in[j] = view(i)
		if i >= 0 && t.requiresGrad[i] {
			dx[j] = &Tensor{}
		}
	}
	out := make([]*Tensor, len(st.out))
	for j, i := range st.out {
		out[j] = view(i)
	}
	c.constIn = st.constIn
	err = st.grad.grad(c, in, out, dy, dx)
	for _, tmp := range c.temps {
		c.pool.release(tmp)
	}
	c.temps = c.temps[:0]
	if err != nil {
		return nodeError(st.node, err)
	}
	for j, i := range st.in {
		if dx[j] == nil {
			continue
		}
		if !sameShape(dx[j].Shape, in[j].Shape) || len(dx[j].F32) != in[j].Len() {
			return nodeError(st.node, fmt.Errorf("backward gave input %d a gradient of shape %v, the input is %v", j, dx[j].Shape, in[j].Shape))
		}
		t.accumulate(i, dx[j])
	}
	return nil
}

// accumulate adds g to slot i's gradient (values read by several nodes).
func (t *Tape) accumulate(i int, g *Tensor) {
	if t.grads[i] == nil {
		t.grads[i] = g
		return
	}
	acc := t.grads[i].F32
	for k, v := range g.F32 {
		acc[k] += v
	}
	t.pool.release(g)
}
