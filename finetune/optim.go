package finetune

import (
	"fmt"
	"math"
)

// Param is one trainable tensor: its value, updated in place, and the
// gradient of the last backward pass.
type Param struct {
	Name  string
	Value []float32
	Grad  []float32
	// LRScale multiplies the learning rate for this parameter (0 means 1).
	LRScale float64
}

// lr is the learning rate p takes at base rate lr.
func (p Param) lr(lr float64) float64 {
	if p.LRScale > 0 {
		return lr * p.LRScale
	}
	return lr
}

// Optimizer updates parameters from their gradients; it keeps its state
// (momentum, moments) per parameter name.
type Optimizer interface {
	Step(params []Param, lr float64) error
}

// NewOptimizer makes "sgd" (momentum 0.9), "adam" or "adamw" with PyTorch's
// defaults.
func NewOptimizer(name string, weightDecay float64) (Optimizer, error) {
	switch name {
	case "sgd":
		return &SGD{Momentum: 0.9, WeightDecay: weightDecay}, nil
	case "adam":
		return &Adam{WeightDecay: weightDecay}, nil
	case "adamw":
		return &Adam{WeightDecay: weightDecay, Decoupled: true}, nil
	}
	return nil, fmt.Errorf("unknown optimizer %q (want sgd, adam or adamw)", name)
}

// SGD is PyTorch's torch.optim.SGD without dampening: g += wd·p;
// v = μ·v + g (v = g on the first step); p −= lr·(Nesterov ? g + μ·v : v).
type SGD struct {
	Momentum    float64
	Nesterov    bool
	WeightDecay float64
	velocity    map[string][]float32
}

// Step applies one update.
func (o *SGD) Step(params []Param, lr float64) error {
	if o.velocity == nil {
		o.velocity = map[string][]float32{}
	}
	mu, wd := float32(o.Momentum), float32(o.WeightDecay)
	for _, p := range params {
		if len(p.Grad) != len(p.Value) {
			return fmt.Errorf("sgd: %s has %d gradients for %d values", p.Name, len(p.Grad), len(p.Value))
		}
		v, seen := o.velocity[p.Name]
		if !seen && mu != 0 {
			v = make([]float32, len(p.Value))
			o.velocity[p.Name] = v
		}
		for i, g := range p.Grad {
			g += wd * p.Value[i]
			if mu != 0 {
				if seen {
					v[i] = mu*v[i] + g
				} else {
					v[i] = g
				}
				if o.Nesterov {
					g += mu * v[i]
				} else {
					g = v[i]
				}
			}
			p.Value[i] -= float32(p.lr(lr)) * g
		}
	}
	return nil
}

// Adam is torch.optim.Adam (L2 weight decay added to the gradient) or, with
// Decoupled, AdamW (p −= lr·wd·p before the Adam step). Zero Beta1, Beta2
// and Eps mean 0.9, 0.999 and 1e-8.
type Adam struct {
	Beta1, Beta2, Eps float64
	WeightDecay       float64
	Decoupled         bool
	m, v              map[string][]float32
	steps             map[string]int
}

// Step applies one update.
func (o *Adam) Step(params []Param, lr float64) error {
	if o.m == nil {
		o.m, o.v, o.steps = map[string][]float32{}, map[string][]float32{}, map[string]int{}
	}
	b1, b2, eps := o.Beta1, o.Beta2, o.Eps
	if b1 == 0 {
		b1 = 0.9
	}
	if b2 == 0 {
		b2 = 0.999
	}
	if eps == 0 {
		eps = 1e-8
	}
	for _, p := range params {
		if len(p.Grad) != len(p.Value) {
			return fmt.Errorf("adam: %s has %d gradients for %d values", p.Name, len(p.Grad), len(p.Value))
		}
		m, v := o.m[p.Name], o.v[p.Name]
		if m == nil {
			m, v = make([]float32, len(p.Value)), make([]float32, len(p.Value))
			o.m[p.Name], o.v[p.Name] = m, v
		}
		o.steps[p.Name]++
		t := float64(o.steps[p.Name])
		c1, c2 := 1-math.Pow(b1, t), 1-math.Pow(b2, t)
		plr := p.lr(lr)
		stepSize := plr / c1
		for i, g := range p.Grad {
			x := float64(p.Value[i])
			gd := float64(g)
			if o.Decoupled {
				x -= plr * o.WeightDecay * x
			} else {
				gd += o.WeightDecay * x
			}
			mi := b1*float64(m[i]) + (1-b1)*gd
			vi := b2*float64(v[i]) + (1-b2)*gd*gd
			m[i], v[i] = float32(mi), float32(vi)
			x -= stepSize * mi / (math.Sqrt(vi)/math.Sqrt(c2) + eps)
			p.Value[i] = float32(x)
		}
	}
	return nil
}

// ClipGradNorm scales all gradients so their global L2 norm is at most
// maxNorm (no-op for maxNorm ≤ 0) and returns the norm before clipping.
func ClipGradNorm(params []Param, maxNorm float64) float64 {
	sum := 0.0
	for _, p := range params {
		for _, g := range p.Grad {
			sum += float64(g) * float64(g)
		}
	}
	norm := math.Sqrt(sum)
	if maxNorm > 0 && norm > maxNorm {
		scale := float32(maxNorm / (norm + 1e-6))
		for _, p := range params {
			for i := range p.Grad {
				p.Grad[i] *= scale
			}
		}
	}
	return norm
}
