package finetune

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate of each optimisation step: a linear
// warm-up from Base/Warmup to Base over the first Warmup steps, then
// constant, cosine decay to MinLR at step Total, or multiplication by Gamma
// every StepSize steps.
type Schedule struct {
	Kind     string // "constant", "cosine" or "step"
	Base     float64
	Warmup   int
	Total    int     // cosine: the step the decay reaches MinLR
	MinLR    float64 // cosine floor
	StepSize int     // step: steps between decays
	Gamma    float64 // step: decay factor
}

// Validate reports a schedule that cannot run.
func (s Schedule) Validate() error {
	switch {
	case !(s.Base > 0):
		return fmt.Errorf("learning rate %g must be positive", s.Base)
	case s.Warmup < 0:
		return fmt.Errorf("warm-up %d must not be negative", s.Warmup)
	case s.Kind == "cosine" && s.Total <= s.Warmup:
		return fmt.Errorf("cosine schedule: %d total steps leave nothing after %d warm-up steps", s.Total, s.Warmup)
	case s.Kind == "step" && (s.StepSize < 1 || !(s.Gamma > 0)):
		return fmt.Errorf("step schedule: step size %d and gamma %g must be positive", s.StepSize, s.Gamma)
	case s.Kind != "constant" && s.Kind != "cosine" && s.Kind != "step" && s.Kind != "":
		return fmt.Errorf("unknown schedule %q (want constant, cosine or step)", s.Kind)
	}
	return nil
}

// LR is the learning rate of step (counted from 0).
func (s Schedule) LR(step int) float64 {
	if step < s.Warmup {
		return s.Base * float64(step+1) / float64(s.Warmup)
	}
	t := step - s.Warmup
	switch s.Kind {
	case "cosine":
		span := s.Total - s.Warmup
		frac := math.Min(1, float64(t)/float64(span))
		return s.MinLR + (s.Base-s.MinLR)*0.5*(1+math.Cos(math.Pi*frac))
	case "step":
		return s.Base * math.Pow(s.Gamma, float64(t/s.StepSize))
	}
	return s.Base
}
