package reference

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRepoRootHoldsGoModAndScripts(t *testing.T) {
	root := RepoRoot()
	for _, f := range []string{"go.mod", "internal/reference/ort_run.js", "internal/reference/export_torchvision.py"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("RepoRoot() = %s: %v", root, err)
		}
	}
}
