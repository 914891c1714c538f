package reference

import (
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
