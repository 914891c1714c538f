// Command onnxcompress makes pretrained ONNX models smaller and faster while
// checking that they still compute the same thing.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/onnxcompress/onnxcompress"
	"github.com/urfave/cli/v2"
)

// Exit codes of the command-line contract (shared/DESIGN.md).
const (
	exitFailure  = 1
	exitBadInput = 2
)

// usageError marks bad usage or bad input: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func badInput(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func newApp() *cli.App {
	app := &cli.App{
		Name:  "onnxcompress",
		Usage: "make ONNX models smaller and faster, and prove they still compute the same thing",
		Description: `Every command takes --help (with examples), --json (one JSON document on stdout
instead of the table) and --quiet (nothing but errors). Progress goes to stderr: a bar on a
terminal, a plain line every few seconds otherwise.

Exit status: 0 ok; 1 failure while working (diff: the models differ); 2 bad usage or bad input,
with a one-line error naming the file and node.`,
		HideHelpCommand:           true,
		DisableSliceFlagSeparator: true,
		Commands: []*cli.Command{
			inspectCommand(),
			compressCommand(),
			demoCommand(),
			approxCommand(),
			chainCommand(),
			evalCommand(),
			runCommand(),
			benchCommand(),
			diffCommand(),
			finetuneCommand(),
			lcsExportCommand(),
		},
		OnUsageError: onUsageError,
	}
	for _, c := range app.Commands {
		c.OnUsageError = onUsageError
	}
	return app
}

func onUsageError(_ *cli.Context, err error, _ bool) error { return usageError{err} }

// permuteArgs moves a command's flags in front of its positional arguments, so
// that `inspect MODEL --json` works as the command-line contract writes it
// (urfave/cli stops reading flags at the first positional argument). A
// lone "--" ends flag parsing as usual.
func permuteArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	cmd := app.Command(args[1])
	if cmd == nil {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, name := range f.Names() {
			takesValue[name] = !isBool
		}
	}
	flags, positional := []string{}, []string{}
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			positional = append(positional, rest[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if takesValue[name] && !strings.Contains(name, "=") && i+1 < len(rest) {
			i++
			flags = append(flags, rest[i])
		}
	}
	out := append([]string{args[0], args[1]}, flags...)
	if len(positional) > 0 {
		out = append(out, "--")
		out = append(out, positional...)
	}
	return out
}

func main() {
	app := newApp()
	err := app.Run(permuteArgs(app, os.Args))
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "onnxcompress:", err)
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) || onnxcompress.IsBadInput(err) {
		return exitBadInput
	}
	return exitFailure
}

func quietFlag() cli.Flag {
	return &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors (files named by flags are still written)"}
}

func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table"}
}

// printResult prints v as JSON with --json, as table writes it otherwise,
// and nothing with --quiet.
func printResult(c *cli.Context, v any, table func(io.Writer) error) error {
	switch {
	case c.Bool("quiet"):
		return nil
	case c.Bool("json"):
		return writeJSON(c.App.Writer, v)
	}
	return table(c.App.Writer)
}

// withPath prefixes err with the file it concerns, keeping its kind.
func withPath(path string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", path, err)
}
