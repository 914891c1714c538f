package finetune_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxcompress/onnxcompress/finetune"
	"github.com/onnxcompress/onnxcompress/runtime"
)

func randLogits(rng *rand.Rand, b, k int) *runtime.Tensor {
	v := make([]float32, b*k)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * 2)
	}
	return runtime.NewFloat32Tensor([]int{b, k}, v)
}

// The losses' gradients agree with central differences of the losses.
func TestLossGradientsMatchFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	s, teacher := randLogits(rng, 4, 5), randLogits(rng, 4, 5)
	labels := []int64{0, 3, 4, 1}
	losses := map[string]func() (float64, *runtime.Tensor, error){
		"ce": func() (float64, *runtime.Tensor, error) { return finetune.CrossEntropy(s, labels) },
		"kd": func() (float64, *runtime.Tensor, error) {
			return finetune.Distillation{Temperature: 3, Alpha: 0.6}.Loss(s, teacher, labels)
		},
		"kd-unlabeled": func() (float64, *runtime.Tensor, error) {
			return finetune.Distillation{Temperature: 2, Alpha: 0.3}.Loss(s, teacher, nil)
		},
		"feature": func() (float64, *runtime.Tensor, error) { return finetune.FeatureMatching(s, teacher) },
	}
	for name, f := range losses {
		_, grad, err := f()
		if err != nil {
			t.Fatal(err)
		}
		for i := range s.F32 {
			orig := s.F32[i]
			const h = 1e-2
			s.F32[i] = orig + h
			up, _, _ := f()
			s.F32[i] = orig - h
			down, _, _ := f()
			s.F32[i] = orig
			num := (up - down) / (2 * h)
			if math.Abs(num-float64(grad.F32[i])) > 1e-3*(1+math.Abs(num)) {
				t.Errorf("%s: d/ds[%d] = %g, finite differences %g", name, i, grad.F32[i], num)
			}
		}
	}
}

// Without labels distillation is the KL term alone (as alpha = 1), and a
// student equal to its teacher has zero loss and gradient.
func TestDistillationWithoutLabels(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	s, teacher := randLogits(rng, 3, 4), randLogits(rng, 3, 4)
	a, ga, err := finetune.Distillation{Temperature: 2, Alpha: 0.2}.Loss(s, teacher, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, gb, err := finetune.Distillation{Temperature: 2, Alpha: 1}.Loss(s, teacher, []int64{0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if a != b || a <= 0 {
		t.Errorf("unlabelled loss %g, alpha-1 loss %g", a, b)
	}
	for i := range ga.F32 {
		if ga.F32[i] != gb.F32[i] {
			t.Fatalf("gradients differ at %d", i)
		}
	}
	zero, g, err := finetune.Distillation{Temperature: 4, Alpha: 1}.Loss(s, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(zero) > 1e-9 {
		t.Errorf("KL of a model to itself %g", zero)
	}
	for _, v := range g.F32 {
		if math.Abs(float64(v)) > 1e-7 {
			t.Fatalf("gradient %v for a student equal to its teacher", g.F32)
		}
	}
	if _, _, err := (finetune.Distillation{Temperature: 0, Alpha: 1}).Loss(s, s, nil); err == nil {
		t.Error("temperature 0 accepted")
	}
	if _, _, err := finetune.CrossEntropy(s, []int64{0, 9, 1}); err == nil {
		t.Error("label 9 of 4 classes accepted")
	}
}

// Feature matching is relative: a student value twice the teacher's is off
// by the teacher's own size (loss 1), a zero one too, an equal one not at
// all; values of different shapes are refused.
func TestFeatureMatching(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 7))
	teacher := randLogits(rng, 3, 4)
	double := runtime.NewFloat32Tensor(teacher.Shape, make([]float32, 12))
	for i, v := range teacher.F32 {
		double.F32[i] = 2 * v
	}
	for name, c := range map[string]struct {
		s    *runtime.Tensor
		want float64
	}{"double": {double, 1}, "zero": {runtime.NewFloat32Tensor(teacher.Shape, make([]float32, 12)), 1}, "equal": {teacher, 0}} {
		loss, _, err := finetune.FeatureMatching(c.s, teacher)
		if err != nil || math.Abs(loss-c.want) > 1e-6 {
			t.Errorf("%s: loss %g, %v; want %g", name, loss, err, c.want)
		}
	}
	if _, _, err := finetune.FeatureMatching(randLogits(rng, 4, 3), teacher); err == nil {
		t.Error("values of different shapes accepted")
	}
}
