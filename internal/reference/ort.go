package reference

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"

	"github.com/onnxcompress/onnxcompress/graph"
)

// ORTJob is one model run in ONNX Runtime.
type ORTJob struct {
	Model  string
	Inputs map[string]*graph.Tensor
}

// ORTResult is what one job produced: its outputs by name, or the error
// ONNX Runtime reported for that model.
type ORTResult struct {
	Outputs map[string]*graph.Tensor
	Err     error
}

// ortDTypes are the element types exchanged with ort_run.js (ONNX Runtime's
// names for them).
var ortDTypes = map[graph.DType]string{
	graph.Float32: "float32", graph.Float64: "float64", graph.Int64: "int64", graph.Int32: "int32",
	graph.Uint8: "uint8", graph.Int8: "int8", graph.Bool: "bool",
}

type ortTensorSpec struct {
	Name  string  `json:"name"`
	DType string  `json:"dtype"`
	Dims  []int64 `json:"dims"`
	File  string  `json:"file"`
}

type ortManifest struct {
	Mode    string `json:"mode"`
	Threads int    `json:"threads"`
	Iters   int    `json:"iters,omitempty"`
	Jobs    []struct {
		Model  string          `json:"model"`
		Inputs []ortTensorSpec `json:"inputs"`
	} `json:"jobs"`
}

type ortReply struct {
	Jobs []struct {
		Error         string          `json:"error"`
		Outputs       []ortTensorSpec `json:"outputs"`
		MedianSeconds float64         `json:"median_seconds"`
	} `json:"jobs"`
}

// ORTAvailable reports why ONNX Runtime cannot be driven, or nil.
func ORTAvailable() error { return Available(ORT) }

// RunORT runs one model once in ONNX Runtime with threads intra-op threads
// and returns its outputs by name.
func RunORT(modelPath string, inputs map[string]*graph.Tensor, threads int) (map[string]*graph.Tensor, error) {
	res, err := RunORTBatch([]ORTJob{{Model: modelPath, Inputs: inputs}}, threads)
	if err != nil {
		return nil, err
	}
	return res[0].Outputs, res[0].Err
}

// RunORTBatch runs several models in one node process, which saves the
// process start per model. The error is for the batch as a whole; each
// result carries its own model's error.
func RunORTBatch(jobs []ORTJob, threads int) ([]ORTResult, error) {
	reply, dir, err := driveORT("run", jobs, threads, 0)
	if dir != "" {
		defer os.RemoveAll(dir)
	}
	if err != nil {
		return nil, err
	}
	results := make([]ORTResult, len(jobs))
	for i, job := range reply.Jobs {
		if job.Error != "" {
			results[i].Err = fmt.Errorf("onnxruntime on %s: %s", jobs[i].Model, job.Error)
			continue
		}
		results[i].Outputs = map[string]*graph.Tensor{}
		for _, spec := range job.Outputs {
			t, err := readRawTensor(dir, spec)
			if err != nil {
				results[i].Err = fmt.Errorf("onnxruntime on %s: %w", jobs[i].Model, err)
				break
			}
			results[i].Outputs[spec.Name] = t
		}
	}
	return results, nil
}

// BenchORT times ONNX Runtime on one model: warm-up runs, then the median
// wall time of iters runs, in seconds.
func BenchORT(modelPath string, inputs map[string]*graph.Tensor, threads, iters int) (float64, error) {
	if iters < 1 {
		return 0, fmt.Errorf("bench %s: iters %d < 1", modelPath, iters)
	}
	reply, dir, err := driveORT("bench", []ORTJob{{Model: modelPath, Inputs: inputs}}, threads, iters)
	if dir != "" {
		defer os.RemoveAll(dir)
	}
	if err != nil {
		return 0, err
	}
	if e := reply.Jobs[0].Error; e != "" {
		return 0, fmt.Errorf("onnxruntime on %s: %s", modelPath, e)
	}
	return reply.Jobs[0].MedianSeconds, nil
}

// driveORT writes the manifest and inputs into a fresh temporary directory,
// runs ort_run.js on it and decodes the reply. The caller removes dir.
func driveORT(mode string, jobs []ORTJob, threads, iters int) (reply *ortReply, dir string, err error) {
	if err := ORTAvailable(); err != nil {
		return nil, "", err
	}
	if threads < 1 {
		threads = 1
	}
	dir, err = os.MkdirTemp("", "onnxcompress-ort-")
	if err != nil {
		return nil, "", err
	}
	m := ortManifest{Mode: mode, Threads: threads, Iters: iters}
	m.Jobs = make([]struct {
		Model  string          `json:"model"`
		Inputs []ortTensorSpec `json:"inputs"`
	}, len(jobs))
	for i, job := range jobs {
		model, err := filepath.Abs(job.Model)
		if err != nil {
			return nil, dir, err
		}
		m.Jobs[i].Model = model
		names := make([]string, 0, len(job.Inputs))
		for name := range job.Inputs {
			names = append(names, name)
		}
		sort.Strings(names)
		for k, name := range names {
			spec, err := writeRawTensor(dir, fmt.Sprintf("job%d_in%d.bin", i, k), name, job.Inputs[name])
			if err != nil {
				return nil, dir, fmt.Errorf("onnxruntime on %s: %w", job.Model, err)
			}
			m.Jobs[i].Inputs = append(m.Jobs[i].Inputs, spec)
		}
	}
	manifest := filepath.Join(dir, "manifest.json")
	data, err := json.Marshal(m)
	if err != nil {
		return nil, dir, err
	}
	if err := os.WriteFile(manifest, data, 0o644); err != nil {
		return nil, dir, err
	}
	cmd := exec.Command("node", sourceFile("ort_run.js"), manifest)
	cmd.Env = append(os.Environ(), "ORT_NODE_MODULE="+ortModuleDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, dir, fmt.Errorf("ort_run.js: %v: %s", err, lastLine(out))
	}
	data, err = os.ReadFile(manifest + ".result.json")
	if err != nil {
		return nil, dir, fmt.Errorf("ort_run.js left no result: %w", err)
	}
	reply = &ortReply{}
	if err := json.Unmarshal(data, reply); err != nil {
		return nil, dir, fmt.Errorf("ort_run.js result: %w", err)
	}
	if len(reply.Jobs) != len(jobs) {
		return nil, dir, fmt.Errorf("ort_run.js answered %d jobs of %d", len(reply.Jobs), len(jobs))
	}
	return reply, dir, nil
}

func writeRawTensor(dir, file, name string, t *graph.Tensor) (ortTensorSpec, error) {
	dtype, ok := ortDTypes[t.DType]
	if !ok {
		return ortTensorSpec{}, fmt.Errorf("input %q: dtype %s not supported by the ORT harness", name, t.DType)
	}
	if err := t.Validate(); err != nil {
		return ortTensorSpec{}, fmt.Errorf("input %q: %w", name, err)
	}
	dims := append([]int64{}, t.Dims...)
	return ortTensorSpec{Name: name, DType: dtype, Dims: dims, File: file},
		os.WriteFile(filepath.Join(dir, file), t.Raw, 0o644)
}

func readRawTensor(dir string, spec ortTensorSpec) (*graph.Tensor, error) {
	var dtype graph.DType
	for d, name := range ortDTypes {
		if name == spec.DType {
			dtype = d
		}
	}
	if dtype == graph.Undefined {
		return nil, fmt.Errorf("output %q: dtype %q not supported by the ORT harness", spec.Name, spec.DType)
	}
	raw, err := os.ReadFile(filepath.Join(dir, filepath.Base(spec.File)))
	if err != nil {
		return nil, fmt.Errorf("output %q: %w", spec.Name, err)
	}
	t := &graph.Tensor{Name: spec.Name, DType: dtype, Dims: append([]int64{}, spec.Dims...), Raw: raw}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("output %q: %w", spec.Name, err)
	}
	return t, nil
}
