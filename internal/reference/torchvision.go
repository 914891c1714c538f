package reference

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

// TorchvisionArchs are the architectures ExportTorchvision knows.
var TorchvisionArchs = []string{"resnet18", "mobilenet_v2", "squeezenet1_0"}

// ExportTorchvision exports torchvision's arch, randomly initialised with a
// fixed torch seed and in eval mode, to dir/arch.onnx (opset 13, input
// 'input' [N,3,224,224], output 'output' [N,1000]) and returns the path.
func ExportTorchvision(dir, arch string) (string, error) {
	known := false
	for _, a := range TorchvisionArchs {
		known = known || a == arch
	}
	if !known {
		return "", fmt.Errorf("export torchvision: unknown architecture %q (know %v)", arch, TorchvisionArchs)
	}
	if err := Available(Torch); err != nil {
		return "", err
	}
	out := filepath.Join(dir, arch+".onnx")
	cmd := exec.Command(Python, sourceFile("export_torchvision.py"), arch, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("export torchvision %s: %v: %s", arch, err, lastLine(b))
	}
	return out, nil
}
