package reference

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckModelAcceptsConformanceModel(t *testing.T) {
	Require(t, Checker, TestData)
	if err := CheckModel(nodeModel("test_relu")); err != nil {
		t.Fatal(err)
	}
}

func TestCheckModelRejectsBrokenFiles(t *testing.T) {
	Require(t, Checker, TestData)
	good, err := os.ReadFile(nodeModel("test_add"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	truncated := filepath.Join(dir, "truncated.onnx")
	// A model whose graph names an input "x" that no longer exists: the
	// node's input "x" is renamed by flipping one byte of the graph input.
	renamed := filepath.Join(dir, "renamed.onnx")
	i := strings.LastIndex(string(good), "\x0a\x01y")
	if i < 0 {
		t.Fatal("test_add has no graph input named y to rename")
	}
	broken := append([]byte{}, good...)
	broken[i+2] = 'q'
	for p, data := range map[string][]byte{truncated: good[:len(good)/2], renamed: broken} {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	intact := filepath.Join(dir, "intact.onnx")
	if err := os.WriteFile(intact, good, 0o644); err != nil {
		t.Fatal(err)
	}
	errs, err := CheckModels(intact, truncated, renamed)
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil {
		t.Errorf("intact model rejected: %v", errs[0])
	}
	for _, e := range errs[1:] {
		if e == nil {
			t.Errorf("broken model accepted")
		}
	}
	if after, err := os.ReadFile(intact); err != nil || string(after) != string(good) {
		t.Errorf("the checker changed the file it checked (%v)", err)
	}
	if errs[1] != nil && !strings.Contains(errs[1].Error(), "truncated.onnx") {
		t.Errorf("error %v does not name the file", errs[1])
	}
}
