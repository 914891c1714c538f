package finetune

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/runtime"
)

// Losses over a batch of logits [B, classes], each returning the mean loss
// and its gradient with respect to the student's logits, computed in
// float64.

// CrossEntropy is the mean of −log softmax(logits)[label].
func CrossEntropy(logits *runtime.Tensor, labels []int64) (float64, *runtime.Tensor, error) {
	b, k, err := logitsShape(logits, "logits")
	if err != nil {
		return 0, nil, err
	}
	if len(labels) != b {
		return 0, nil, fmt.Errorf("cross-entropy: %d labels for a batch of %d", len(labels), b)
	}
	grad := runtime.NewFloat32Tensor(logits.Shape, make([]float32, b*k))
	p := make([]float64, k)
	loss := 0.0
	for i := 0; i < b; i++ {
		y := int(labels[i])
		if y < 0 || y >= k {
			return 0, nil, fmt.Errorf("cross-entropy: label %d of sample %d is not one of %d classes", y, i, k)
		}
		lse := softmax(logits.F32[i*k:(i+1)*k], 1, p)
		loss += lse - float64(logits.F32[i*k+y])
		for c := range p {
			g := p[c]
			if c == y {
				g--
			}
			grad.F32[i*k+c] = float32(g / float64(b))
		}
	}
	return loss / float64(b), grad, nil
}

// Distillation is Hinton et al.'s knowledge-distillation loss:
// α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1−α)·CE(s, label), the KL term
// averaged over the batch (PyTorch's reduction="batchmean"). Without labels
// only the KL term counts, whatever α.
type Distillation struct {
	Temperature float64 // T > 0
	Alpha       float64 // weight of the distillation term, in [0, 1]
}

// Loss scores the student's logits against the teacher's (same shape) and
// the labels (nil for unlabelled data).
func (d Distillation) Loss(student, teacher *runtime.Tensor, labels []int64) (float64, *runtime.Tensor, error) {
	b, k, err := logitsShape(student, "student logits")
	if err != nil {
		return 0, nil, err
	}
	if tb, tk, err := logitsShape(teacher, "teacher logits"); err != nil || tb != b || tk != k {
		return 0, nil, fmt.Errorf("distillation: teacher logits %v, student %v: %v", teacher.Shape, student.Shape, err)
	}
	if !(d.Temperature > 0) || !(d.Alpha >= 0 && d.Alpha <= 1) {
		return 0, nil, fmt.Errorf("distillation: temperature %g must be positive and alpha %g in [0, 1]", d.Temperature, d.Alpha)
	}
	alpha := d.Alpha
	var ceLoss float64
	var ceGrad *runtime.Tensor
	if labels == nil {
		alpha = 1
	} else if alpha < 1 {
		if ceLoss, ceGrad, err = CrossEntropy(student, labels); err != nil {
			return 0, nil, err
		}
	}
	T := d.Temperature
	grad := runtime.NewFloat32Tensor(student.Shape, make([]float32, b*k))
	ps, pt := make([]float64, k), make([]float64, k)
	kl := 0.0
	for i := 0; i < b; i++ {
		lseS := softmax(student.F32[i*k:(i+1)*k], T, ps)
		lseT := softmax(teacher.F32[i*k:(i+1)*k], T, pt)
		for c := 0; c < k; c++ {
			if pt[c] > 0 {
				// log pt − log ps with log p = z/T − lse.
				kl += pt[c] * ((float64(teacher.F32[i*k+c])/T - lseT) - (float64(student.F32[i*k+c])/T - lseS))
			}
			// d(T²·KL)/ds = T·(ps − pt).
			grad.F32[i*k+c] = float32(alpha * T * (ps[c] - pt[c]) / float64(b))
		}
	}
	loss := alpha * T * T * kl / float64(b)
	if ceGrad != nil {
		loss += (1 - alpha) * ceLoss
		for i, g := range ceGrad.F32 {
			grad.F32[i] += float32(1-alpha) * g
		}
	}
	return loss, grad, nil
}

// softmax writes softmax(z/T) into p and returns log Σ exp(z/T).
func softmax(z []float32, T float64, p []float64) float64 {
	mx := math.Inf(-1)
	for _, v := range z {
		mx = math.Max(mx, float64(v)/T)
	}
	sum := 0.0
	for c, v := range z {
		p[c] = math.Exp(float64(v)/T - mx)
		sum += p[c]
	}
	for c := range p {
		p[c] /= sum
	}
	return mx + math.Log(sum)
}

func logitsShape(t *runtime.Tensor, what string) (int, int, error) {
	if t == nil || t.DType != graph.Float32 || len(t.Shape) != 2 || len(t.F32) != t.Len() {
		return 0, 0, fmt.Errorf("%s must be a float32 [batch, classes] tensor", what)
	}
	return t.Shape[0], t.Shape[1], nil
}

// FeatureMatching scores a student's intermediate value against the
// teacher's value of the same name: the mean squared difference divided by
// the mean square of the teacher's value, so layers weigh alike whatever
// their scale. It returns the loss and its gradient with respect to the
// student's value.
func FeatureMatching(student, teacher *runtime.Tensor) (float64, *runtime.Tensor, error) {
	if student == nil || teacher == nil || student.DType != graph.Float32 || teacher.DType != graph.Float32 ||
		!slices.Equal(student.Shape, teacher.Shape) || len(student.F32) != len(teacher.F32) {
		return 0, nil, errors.New("feature matching: student and teacher values must be float32 tensors of one shape")
	}
	n := len(teacher.F32)
	if n == 0 {
		return 0, runtime.NewFloat32Tensor(student.Shape, nil), nil
	}
	scale := 0.0
	for _, v := range teacher.F32 {
		scale += float64(v) * float64(v)
	}
	scale = max(scale, 1e-12) // Σt²: mean squares divided, the n cancels
	loss := 0.0
	grad := runtime.NewFloat32Tensor(student.Shape, make([]float32, n))
	for i, s := range student.F32 {
		d := float64(s) - float64(teacher.F32[i])
		loss += d * d
		grad.F32[i] = float32(2 * d / scale)
	}
	return loss / scale, grad, nil
}
