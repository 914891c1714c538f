package reference

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Python is the interpreter that has onnx, torch and torchvision (Debian's);
// the python3 first on PATH may be another one without them.
const Python = "/usr/bin/python3"

// Paths of the Debian-packaged data sets.
const (
	TestDataDir     = "/usr/share/libonnx-testdata/data"
	FashionMNISTDir = "/usr/share/datasets/fashion-mnist"
)

// Component is one real external part a test depends on.
type Component int

const (
	ORT          Component = iota // onnxruntime-node under RepoRoot()/node_modules, run by node
	Checker                       // the ONNX checker: /usr/bin/python3 with onnx
	Torch                         // /usr/bin/python3 with torch and torchvision
	TestData                      // ONNX backend conformance data (libonnx-testdata)
	FashionMNIST                  // Fashion-MNIST IDX files (dataset-fashion-mnist)
)

type componentInfo struct {
	name  string
	hint  string
	probe func() error
}

var components = map[Component]componentInfo{
	ORT: {"ONNX Runtime (onnxruntime-node)",
		"install node (apt-get install nodejs) and run `ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node@1.30.0` in the repository root",
		probeORT},
	Checker: {"ONNX checker (python3-onnx)", "apt-get install python3-onnx",
		func() error { return probePython("import onnx, onnx.checker") }},
	Torch: {"PyTorch and torchvision (python3-torch)", "apt-get install python3-torch python3-torchvision",
		func() error { return probePython("import torch, torchvision") }},
	TestData: {"ONNX backend test data (libonnx-testdata)", "apt-get install libonnx-testdata",
		func() error { return probeFile(filepath.Join(TestDataDir, "node", "test_add", "model.onnx")) }},
	FashionMNIST: {"Fashion-MNIST (dataset-fashion-mnist)", "apt-get install dataset-fashion-mnist",
		func() error {
			for _, f := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
				"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
				if err := probeFile(filepath.Join(FashionMNISTDir, f)); err != nil {
					return err
				}
			}
			return nil
		}},
}

func (c Component) String() string {
	if info, ok := components[c]; ok {
		return info.name
	}
	return fmt.Sprintf("component(%d)", int(c))
}

var (
	probeMu    sync.Mutex
	probeCache = map[Component]error{}
)

// Available probes c once per process and reports why it is unusable, or nil.
func Available(c Component) error {
	probeMu.Lock()
	defer probeMu.Unlock()
	if err, ok := probeCache[c]; ok {
		return err
	}
	info, ok := components[c]
	if !ok {
		return fmt.Errorf("unknown component %d", int(c))
	}
	err := info.probe()
	if err != nil {
		err = fmt.Errorf("%s unavailable: %w (install: %s)", info.name, err, info.hint)
	}
	probeCache[c] = err
	return err
}

// Require fails the test under CI=true, and skips it otherwise, when any of
// the components is missing.
func Require(t testing.TB, cs ...Component) {
	t.Helper()
	for _, c := range cs {
		if err := Available(c); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true and %v", err)
				return
			}
			t.Skip(err)
		}
	}
}

func probeFile(path string) error {
	_, err := os.Stat(path)
	return err
}

func probePython(code string) error {
	out, err := exec.Command(Python, "-c", code).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s -c %q: %v: %s", Python, code, err, lastLine(out))
	}
	return nil
}

func probeORT() error {
	node, err := exec.LookPath("node")
	if err != nil {
		return err
	}
	module := ortModuleDir()
	if err := probeFile(filepath.Join(module, "package.json")); err != nil {
		return err
	}
	out, err := exec.Command(node, "-e", "require(process.argv[1])", module).CombinedOutput()
	if err != nil {
		return fmt.Errorf("node cannot load %s: %v: %s", module, err, lastLine(out))
	}
	return nil
}

func ortModuleDir() string { return filepath.Join(RepoRoot(), "node_modules", "onnxruntime-node") }

// lastLine is the last non-empty line of a tool's output: where Python and
// node put the message of the exception that stopped them.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
