package reference

import (
	"os"
	"path/filepath"
	"sync"
)

var repoRoot = sync.OnceValue(func() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
})

// RepoRoot is the nearest directory at or above the working directory that
// holds go.mod (tests run in their package directory); the working directory
// itself when there is none.
func RepoRoot() string { return repoRoot() }

// sourceFile is the path of a file committed beside this package's sources.
func sourceFile(name string) string {
	return filepath.Join(RepoRoot(), "internal", "reference", name)
}
