package rewrite

import (
	"fmt"
	"strings"
)

// methods is every compression method, in the order help texts list them.
var methods = []Method{
	svdMethod{},
	tuckerMethod{},
	cpMethod{},
	debutMethod{},
	ttMethod{},
	trMethod{},
	htMethod{},
	hingeMethod{},
	sparseMethod{},
	quantMethod{},
}

// AutoMethod lets the global budget pick each layer's method among those
// that can price their settings.
const AutoMethod = "auto"

// MethodNames lists the method names Compress accepts.
func MethodNames() []string {
	names := make([]string, len(methods))
	for i, m := range methods {
		names[i] = m.Name()
	}
	return names
}

// MethodByName finds a method.
func MethodByName(name string) (Method, error) {
	for _, m := range methods {
		if m.Name() == name {
			return m, nil
		}
	}
	return nil, usageErrorf("unknown method %q (known: %s)", name, strings.Join(MethodNames(), ", "))
}

// errNotFor is the reason a layer cannot take a method.
func errNotFor(l *Layer, format string, args ...any) error {
	return fmt.Errorf("%s %s: %s", l.Node.OpType, l.Node.Label(), fmt.Sprintf(format, args...))
}
