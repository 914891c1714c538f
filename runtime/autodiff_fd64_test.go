package runtime

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/onnx"
)

// The runtime computes in float32 (a design contract), and its forward
// kernels have no float64 twin, so float32 finite differences of its own
// forward are only good to about 1e-2. The float64 check takes the
// differences on an independent float64 evaluation of the same ONNX model:
// bench/finetune/torch_onnx.py fd64 runs each node with PyTorch 1.13's ops
// in double precision. That its forward computes the same function as ours
// is checked first (outputs to 1e-5 relative L2); then the tape's gradients
// must match the float64 central differences to 1e-5 relative L2, and each
// element to 1e-5 of the gradient’s largest entry: three orders of magnitude
// tighter than the float32 check, and ten times the largest error seen
// (5.6e-7, from float32 backward arithmetic).

type fd64Array struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

type fd64Job struct {
	Model      string               `json:"model"`
	Inputs     map[string]fd64Array `json:"inputs"`
	Weights    map[string]fd64Array `json:"weights"`
	Perturb    []string             `json:"perturb"`
	BNTraining bool                 `json:"bn_training"`
}

type fd64Reply struct {
	Error   string               `json:"error"`
	Outputs map[string][]float64 `json:"outputs"`
	Grads   map[string][]float64 `json:"grads"`
}

// fd64Server is one Python process per test binary answering a job a line.
type fd64Server struct {
	mu  sync.Mutex
	enc *json.Encoder
	out *bufio.Reader
	err error
}

var fd64Reference = sync.OnceValue(func() *fd64Server {
	s := &fd64Server{}
	if s.err = reference.Available(reference.Torch); s.err != nil {
		return s
	}
	cmd := exec.Command(reference.Python, filepath.Join(reference.RepoRoot(), "bench", "finetune", "torch_onnx.py"), "fd64")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		s.err = err
		return s
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.err = err
		return s
	}
	// The process ends when the test binary exits and its stdin closes.
	if s.err = cmd.Start(); s.err == nil {
		s.enc, s.out = json.NewEncoder(in), bufio.NewReaderSize(out, 1<<20)
	}
	return s
})

func (s *fd64Server) run(job fd64Job) (*fd64Reply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	if err := s.enc.Encode(job); err != nil {
		return nil, err
	}
	line, err := s.out.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("torch_onnx.py fd64: %w", err)
	}
	var r fd64Reply
	if err := json.Unmarshal(line, &r); err != nil {
		return nil, err
	}
	if r.Error != "" {
		return nil, fmt.Errorf("torch_onnx.py fd64: %s", r.Error)
	}
	return &r, nil
}

func toFD64(x *Tensor) fd64Array {
	return fd64Array{Shape: x.Shape, Data: x.Float64s()}
}

// checkFloat64Differences compares the tape's analytic gradients (by name:
// graph inputs in feeds or initializers of m) and its float32 outputs with
// float64 finite differences and outputs of m for L = Σ weights·outputs.
func checkFloat64Differences(t *testing.T, m *graph.Model, feeds map[string]*Tensor, names []string, bnTraining bool,
	out, weights map[string]*Tensor, analytic map[string][]float64) {
	t.Helper()
	if err := reference.Available(reference.Torch); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and %v", err)
		}
		t.Logf("float64 finite differences skipped: %v", err)
		return
	}
	path := filepath.Join(t.TempDir(), "grad.onnx")
	if err := onnx.Write(path, m); err != nil {
		t.Fatal(err)
	}
	job := fd64Job{Model: path, Inputs: map[string]fd64Array{}, Weights: map[string]fd64Array{}, Perturb: names, BNTraining: bnTraining}
	for name, x := range feeds {
		job.Inputs[name] = toFD64(x)
	}
	for name, r := range weights {
		job.Weights[name] = toFD64(r)
	}
	ref, err := fd64Reference().run(job)
	if err != nil {
		t.Fatal(err)
	}
	for name := range weights {
		if rel := relL2(out[name].Float64s(), ref.Outputs[name]); rel > 1e-5 {
			t.Errorf("output %s: float32 forward %.3g relative L2 from the float64 reference; its differences would check another function", name, rel)
		}
	}
	for _, name := range names {
		got, num := analytic[name], ref.Grads[name]
		if len(num) != len(got) {
			t.Fatalf("%s: %d float64 differences for %d gradient entries", name, len(num), len(got))
		}
		rel := relL2(got, num)
		if rel > 1e-5 || math.IsNaN(rel) {
			t.Errorf("input %s: gradient %.3g relative L2 from float64 differences\n analytic %v\n numeric  %v", name, rel, head(got), head(num))
			continue
		}
		peak := 0.0
		for _, v := range num {
			peak = math.Max(peak, math.Abs(v))
		}
		for i := range num {
			if math.Abs(got[i]-num[i]) > 1e-5*peak {
				t.Errorf("input %s[%d]: analytic %g, float64 difference %g", name, i, got[i], num[i])
				break
			}
		}
		if testing.Verbose() {
			t.Logf("input %s: %.2g relative L2 from float64 differences", name, rel)
		}
	}
}

// relL2 is ‖got − want‖ / ‖want‖ (0 when both vanish).
func relL2(got, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var diff, norm float64
	for i := range want {
		diff += (got[i] - want[i]) * (got[i] - want[i])
		norm += want[i] * want[i]
	}
	if diff == 0 {
		return 0
	}
	return math.Sqrt(diff / norm)
}
