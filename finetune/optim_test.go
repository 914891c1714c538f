package finetune_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/finetune"
	"github.com/onnxcompress/onnxcompress/internal/reference"
)

// torchJSON runs a python snippet (torch imported, one thread) that reads
// the JSON document inp as `inp` and prints JSON.
func torchJSON(t *testing.T, code string, inp, out any) {
	t.Helper()
	reference.Require(t, reference.Torch)
	data, err := json.Marshal(inp)
	if err != nil {
		t.Fatal(err)
	}
	prog := "import json, sys, math, torch\ntorch.set_num_threads(1)\ninp = json.load(sys.stdin)\n" + code
	cmd := exec.Command(reference.Python, "-c", prog)
	cmd.Stdin = strings.NewReader(string(data))
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	if err := json.Unmarshal(res, out); err != nil {
		t.Fatalf("python printed %q: %v", res, err)
	}
}

// Five steps of each optimizer on the same parameters and gradients give
// torch.optim's parameters.
func TestOptimizersMatchTorch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const n, steps = 7, 5
	init := make([]float32, n)
	for i := range init {
		init[i] = float32(rng.NormFloat64())
	}
	grads := make([][]float32, steps)
	for s := range grads {
		grads[s] = make([]float32, n)
		for i := range grads[s] {
			grads[s][i] = float32(rng.NormFloat64())
		}
	}
	cases := []struct {
		name  string
		opt   finetune.Optimizer
		torch string
	}{
		{"sgd", &finetune.SGD{}, "torch.optim.SGD([p], lr=0.1)"},
		{"sgd-momentum-wd", &finetune.SGD{Momentum: 0.9, WeightDecay: 0.01}, "torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)"},
		{"sgd-nesterov", &finetune.SGD{Momentum: 0.8, Nesterov: true, WeightDecay: 0.05}, "torch.optim.SGD([p], lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.05)"},
		{"adam", &finetune.Adam{}, "torch.optim.Adam([p], lr=0.1)"},
		{"adam-wd", &finetune.Adam{WeightDecay: 0.1, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6}, "torch.optim.Adam([p], lr=0.1, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)"},
		{"adamw", &finetune.Adam{WeightDecay: 0.1, Decoupled: true}, "torch.optim.AdamW([p], lr=0.1, weight_decay=0.1)"},
	}
	lrs := []float64{0.1, 0.1, 0.05, 0.05, 0.02}
	var torchOpts []string
	for _, c := range cases {
		torchOpts = append(torchOpts, c.torch)
	}
	var want [][]float64
	torchJSON(t, `out = []
for make in inp["opts"]:
    p = torch.nn.Parameter(torch.tensor(inp["init"], dtype=torch.float32))
    opt = eval(make)
    for s, g in enumerate(inp["grads"]):
        for group in opt.param_groups:
            group["lr"] = inp["lrs"][s]
        p.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
    out.append(p.detach().double().tolist())
print(json.dumps(out))
`, map[string]any{"init": init, "grads": grads, "lrs": lrs, "opts": torchOpts}, &want)
	for k, c := range cases {
		value := append([]float32(nil), init...)
		for s := 0; s < steps; s++ {
			g := append([]float32(nil), grads[s]...)
			if err := c.opt.Step([]finetune.Param{{Name: "w", Value: value, Grad: g}}, lrs[s]); err != nil {
				t.Fatal(err)
			}
		}
		for i := range want[k] {
			if math.Abs(float64(value[i])-want[k][i]) > 1e-5*(1+math.Abs(want[k][i])) {
				t.Errorf("%s after %d steps: %v, torch %v", c.name, steps, value, want[k])
				break
			}
		}
	}
}

// Warm-up then cosine or step decay gives the rates of torch's LinearLR
// followed by CosineAnnealingLR or StepLR.
func TestSchedulesMatchTorch(t *testing.T) {
	schedules := []finetune.Schedule{
		{Kind: "cosine", Base: 0.1, Warmup: 4, Total: 30, MinLR: 0.001},
		{Kind: "cosine", Base: 0.02, Total: 25},
		{Kind: "step", Base: 0.1, Warmup: 3, StepSize: 7, Gamma: 0.5},
		{Kind: "constant", Base: 0.3, Warmup: 5},
	}
	const steps = 30
	var want [][]float64
	torchJSON(t, `res = []
for s in inp:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=s["Base"])
    w = s["Warmup"]
    if s["Kind"] == "cosine":
        main = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=s["Total"] - w, eta_min=s["MinLR"])
    elif s["Kind"] == "step":
        main = torch.optim.lr_scheduler.StepLR(opt, step_size=s["StepSize"], gamma=s["Gamma"])
    else:
        main = torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)
    if w > 0:
        warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0 / w, end_factor=1.0, total_iters=max(w - 1, 1))
        sched = torch.optim.lr_scheduler.SequentialLR(opt, [warm, main], milestones=[w])
    else:
        sched = main
    out = []
    for i in range(30):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    res.append(out)
print(json.dumps(res))
`, schedules, &want)
	for k, s := range schedules {
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < steps; i++ {
			if i >= s.Total && s.Kind == "cosine" {
				break // torch's cosine rises again past T_max; ours stays at MinLR
			}
			if got := s.LR(i); math.Abs(got-want[k][i]) > 1e-9*(1+want[k][i]) {
				t.Errorf("%+v step %d: lr %g, torch %g\n torch %v", s, i, got, want[k][i], want[k])
				break
			}
		}
	}
}

func TestClipGradNorm(t *testing.T) {
	a, b := []float32{3, 0}, []float32{0, 4}
	ps := []finetune.Param{{Name: "a", Value: make([]float32, 2), Grad: a}, {Name: "b", Value: make([]float32, 2), Grad: b}}
	if norm := finetune.ClipGradNorm(ps, 1); math.Abs(norm-5) > 1e-6 {
		t.Errorf("norm %g, want 5", norm)
	}
	if math.Abs(float64(a[0])-0.6) > 1e-5 || math.Abs(float64(b[1])-0.8) > 1e-5 {
		t.Errorf("clipped to %v %v, want [0.6 0] [0 0.8]", a, b)
	}
	if finetune.ClipGradNorm(ps, 10); math.Abs(float64(a[0])-0.6) > 1e-5 {
		t.Errorf("a norm under the bound changed: %v", a)
	}
}

// A parameter's LRScale multiplies the learning rate in every optimizer: a
// run at base rate lr with LRScale k equals a run at rate k·lr.
func TestLRScaleMultipliesTheRate(t *testing.T) {
	for _, name := range []string{"sgd", "adam", "adamw"} {
		scaled, err := finetune.NewOptimizer(name, 0.01)
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := finetune.NewOptimizer(name, 0.01)
		a, b := []float32{0.5, -1, 2}, []float32{0.5, -1, 2}
		for step := 0; step < 5; step++ {
			g := []float32{0.3 - float32(step)*0.1, 1, -0.2}
			if err := scaled.Step([]finetune.Param{{Name: "w", Value: a, Grad: slices.Clone(g), LRScale: 0.25}}, 0.1); err != nil {
				t.Fatal(err)
			}
			if err := plain.Step([]finetune.Param{{Name: "w", Value: b, Grad: slices.Clone(g)}}, 0.025); err != nil {
				t.Fatal(err)
			}
		}
		for i := range a {
			if math.Abs(float64(a[i]-b[i])) > 1e-6 {
				t.Errorf("%s: LRScale 0.25 at lr 0.1 gives %v, lr 0.025 gives %v", name, a, b)
				break
			}
		}
		if a[0] == 0.5 {
			t.Errorf("%s: the parameter did not move", name)
		}
	}
}
