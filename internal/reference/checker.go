package reference

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
)

// checkerScript checks each model path given as an argument and prints one
// JSON list with the checker's message per model ("" when it passes).
const checkerScript = `
import json, sys
import onnx, onnx.checker
out = []
for path in sys.argv[1:]:
    try:
        # Checked in memory: given a path, onnx 1.12's full_check writes the
        # inferred shapes back into the file.
        onnx.checker.check_model(onnx.load(path), full_check=True)
        out.append("")
    except Exception as e:
        out.append((type(e).__name__ + ": " + str(e)).strip() or type(e).__name__)
print(json.dumps(out))
`

// CheckModel runs the official ONNX checker with full_check (which includes
// strict shape inference) on the model file; the error is its message. The
// file is left untouched (the checker is given the loaded model, not the path).
func CheckModel(path string) error {
	errs, err := CheckModels(path)
	if err != nil {
		return err
	}
	return errs[0]
}

// CheckModels checks several model files in one Python process. The second
// result is an error of the checker itself (not of a model).
func CheckModels(paths ...string) ([]error, error) {
	if err := Available(Checker); err != nil {
		return nil, err
	}
	args := []string{"-c", checkerScript}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		args = append(args, abs)
	}
	cmd := exec.Command(Python, args...)
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return nil, fmt.Errorf("onnx checker: %v: %s", err, lastLine(exit.Stderr))
		}
		return nil, fmt.Errorf("onnx checker: %w", err)
	}
	var msgs []string
	if err := json.Unmarshal(out, &msgs); err != nil || len(msgs) != len(paths) {
		return nil, fmt.Errorf("onnx checker: unexpected reply %q", lastLine(out))
	}
	errs := make([]error, len(paths))
	for i, m := range msgs {
		if m != "" {
			errs[i] = fmt.Errorf("onnx checker rejects %s: %s", paths[i], m)
		}
	}
	return errs, nil
}
