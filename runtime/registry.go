package runtime

import (
	"errors"
	"fmt"
	"sort"

	"github.com/onnxcompress/onnxcompress/graph"
)

// kernelFunc runs one node: it reads in (nil for omitted optional inputs) and
// fills out, whose headers the session owns, through c.alloc.
type kernelFunc func(c *execContext, in, out []*Tensor) error

// compileFunc prepares a node once per session: it parses and checks the
// attributes and returns the kernel to call on every run. opset is the
// model's default-domain version, for ops whose semantics changed over time.
type compileFunc func(n *graph.Node, opset int64) (kernelFunc, error)

// forwardKernels maps an ONNX op type (default domain) to its compiler. Each
// op-family file registers its ops in init; a backward kernel will live in the
// file beside its forward (conv.go, conv_grad.go) and register in a map of
// its own, so forward and backward never share a table entry.
var forwardKernels = map[string]compileFunc{}

func registerForward(f compileFunc, ops ...string) {
	for _, op := range ops {
		if _, dup := forwardKernels[op]; dup {
			panic("runtime: op registered twice: " + op)
		}
		forwardKernels[op] = f
	}
}

// SupportedOps lists the op types the runtime executes, sorted.
func SupportedOps() []string {
	ops := make([]string, 0, len(forwardKernels))
	for op := range forwardKernels {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

// Supports reports whether a node's op has a kernel.
func Supports(n *graph.Node) bool {
	_, ok := forwardKernels[n.OpType]
	return ok && n.IsDefaultDomain()
}

// simple adapts a kernel with no attributes to compileFunc.
func simple(k kernelFunc) compileFunc {
	return func(*graph.Node, int64) (kernelFunc, error) { return k, nil }
}

// nodeError names the node an error is about.
func nodeError(n *graph.Node, err error) error {
	return fmt.Errorf("runtime: node %q (%s): %w", n.Label(), n.OpType, err)
}

// ErrUnsupported marks errors about an op feature or dtype the runtime does
// not implement, as opposed to a malformed model.
var ErrUnsupported = errors.New("not supported by the runtime")

// fusedCompileFunc compiles a node whose output passes through act before
// anything else reads it.
type fusedCompileFunc func(n *graph.Node, opset int64, act activation) (kernelFunc, error)

// fusedKernels maps op types that can apply an activation to their output.
var fusedKernels = map[string]fusedCompileFunc{}

func registerFused(f fusedCompileFunc, ops ...string) {
	for _, op := range ops {
		fusedKernels[op] = f
	}
}
