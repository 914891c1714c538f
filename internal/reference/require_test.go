package reference

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestAvailableNamesInstallHint(t *testing.T) {
	err := Available(Component(99))
	if err == nil {
		t.Fatal("unknown component reported available")
	}
	for c, info := range components {
		if info.hint == "" || info.name == "" {
			t.Errorf("component %d lacks a name or install hint", int(c))
		}
		if err := Available(c); err != nil && !strings.Contains(err.Error(), info.hint) {
			t.Errorf("%v: error %q lacks the install hint", c, err)
		}
	}
}

func TestAvailableCachesProbe(t *testing.T) {
	first := Available(TestData)
	probeMu.Lock()
	cached, ok := probeCache[TestData]
	probeMu.Unlock()
	if !ok || cached != first {
		t.Fatalf("probe result not cached: %v vs %v", cached, first)
	}
}

// recordingTB captures how Require ends a test instead of ending it.
type recordingTB struct {
	testing.TB
	fatal, skipped string
}

func (r *recordingTB) Helper()                        {}
func (r *recordingTB) Fatalf(format string, a ...any) { r.fatal = fmt.Sprintf(format, a...) }
func (r *recordingTB) Skip(a ...any)                  { r.skipped = fmt.Sprint(a...) }

func TestRequireFailsUnderCIAndSkipsOtherwise(t *testing.T) {
	missing := Component(100)
	components[missing] = componentInfo{"fake part", "apt-get install fake-part",
		func() error { return errors.New("not here") }}
	t.Cleanup(func() {
		probeMu.Lock()
		delete(components, missing)
		delete(probeCache, missing)
		probeMu.Unlock()
	})

	t.Setenv("CI", "true")
	ci := &recordingTB{TB: t}
	Require(ci, missing)
	if ci.fatal == "" || ci.skipped != "" || !strings.Contains(ci.fatal, "apt-get install fake-part") {
		t.Errorf("CI=true: fatal %q, skipped %q", ci.fatal, ci.skipped)
	}

	t.Setenv("CI", "")
	local := &recordingTB{TB: t}
	Require(local, missing)
	if local.skipped == "" || local.fatal != "" {
		t.Errorf("CI unset: fatal %q, skipped %q", local.fatal, local.skipped)
	}
}
