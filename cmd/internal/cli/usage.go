package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"
)

// Exit statuses. srv6-ping and srv6-trace use iputils ping's and traceroute's: 0 success, 1 no
// reply (or a path that does not match), 2 an error. Every command exits ExitUsage on a mistake
// in its command line, as iputils and the Prometheus tools do; the daemons and srv6-testnet
// exit ExitFailure on other errors.
const (
	ExitOK      = 0
	ExitNo      = 1
	ExitError   = 2
	ExitUsage   = 2
	ExitFailure = 1
)

// Fail is an error that ends the command with ExitError, printed as one line. A UsageError
// stays one (it exits ExitUsage, which is the same status).
func Fail(err error) error {
	var ue *UsageError
	if errors.As(err, &ue) {
		return err
	}
	return cli.Exit(err.Error(), ExitError)
}

// UsageError is a mistake in the command line: an unknown flag, a bad value, a missing or
// extra argument. Run prints it as one line naming the flag or argument, then, when Help is
// set, "Try 'Help' for more information.", and exits ExitUsage; nothing goes to standard
// output.
type UsageError struct {
	Err error
	// Help is the command that prints the help, e.g. "srv6-testnet up --help".
	Help string
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usage returns a UsageError with fmt.Errorf's message and no hint.
func Usage(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// NoArgs refuses positional arguments, for commands that take none.
func NoArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return Usage("unexpected argument %q: %s takes none", c.Args().First(), c.App.Name)
	}
	return nil
}

// Main runs app on os.Args and exits with Run's status.
func Main(app *cli.App, failure int) {
	os.Exit(Run(app, os.Args, os.Stderr, failure))
}

// Run runs app on args (args[0] the program) and returns the exit status: 0 when it succeeds;
// a cli.ExitCoder's status, its message printed as "NAME: message" on stderr; ExitUsage for a
// UsageError (urfave/cli's flag errors are made UsageErrors); failure for any other error,
// printed as one line. An app without subcommands takes its arguments as iputils does: short
// options with attached values (-c1), options after DESTINATION.
func Run(app *cli.App, args []string, stderr io.Writer, failure int) int {
	// Exit codes and messages are ours, not urfave's default handler's.
	app.ExitErrHandler = func(*cli.Context, error) {}
	app.ErrWriter = stderr
	if app.Writer == nil {
		app.Writer = os.Stdout
	}
	if done, err := packaging(app, args, app.Writer); done {
		if err != nil {
			fmt.Fprintln(stderr, app.Name+": "+oneLine(err.Error()))
			return ExitUsage
		}
		return ExitOK
	}
	if len(app.Commands) == 0 && len(args) > 0 {
		args = FlagsFirst(app.Flags, ShortValues(app.Flags, args))
	}
	tidyHelp(app.Flags)
	app.OnUsageError = onUsageError(app.Name, app.Flags, args)
	for _, cmd := range app.Commands {
		tidyHelp(cmd.Flags)
		cmd.OnUsageError = onUsageError(app.Name+" "+cmd.Name, cmd.Flags, args)
	}
	err := app.Run(args)
	if err == nil {
		return ExitOK
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, app.Name+": "+oneLine(ue.Error()))
		if ue.Help != "" {
			fmt.Fprintf(stderr, "Try '%s' for more information.\n", ue.Help)
		}
		return ExitUsage
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(stderr, app.Name+": "+oneLine(msg))
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(stderr, app.Name+": "+oneLine(err.Error()))
	return failure
}

// oneLine joins the lines of an error (errors.Join separates them with newlines): the command
// prints one line.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// tidyHelp keeps --help to one mention of each default: a switch's "(default: false)" says
// nothing (every switch of ours is off unless given).
func tidyHelp(flags []cli.Flag) {
	for _, f := range flags {
		if b, ok := f.(*cli.BoolFlag); ok {
			b.DisableDefaultText = true
		}
	}
}

// onUsageError turns urfave/cli's flag errors, which are Go's flag package's ("flag provided
// but not defined: -x"), into one line that names the flag as given in args, and points to
// --help instead of printing it on standard output. (The Context it is called with has no
// arguments: they did not parse.)
func onUsageError(name string, flags []cli.Flag, args []string) cli.OnUsageErrorFunc {
	return func(_ *cli.Context, err error, _ bool) error {
		return &UsageError{Err: errors.New(describeFlagError(err, flags, args)), Help: name + " --help"}
	}
}

var (
	errUndefined = regexp.MustCompile(`^flag provided but not defined: -(.+)$`)
	errNoValue   = regexp.MustCompile(`^flag needs an argument: -(.+)$`)
	errBadValue  = regexp.MustCompile(`^invalid value "(.*)" for flag -([^:]+): (.+)$`)
	errBadBool   = regexp.MustCompile(`^invalid boolean value "(.*)" for -([^:]+): (.+)$`)
)

// describeFlagError rewrites one error of Go's flag package; args are the arguments parsed,
// to name an unknown flag as it was written. Others pass through.
func describeFlagError(err error, flags []cli.Flag, args []string) string {
	msg := err.Error()
	if m := errUndefined.FindStringSubmatch(msg); m != nil {
		return "unknown option " + asWritten(m[1], args)
	}
	if m := errNoValue.FindStringSubmatch(msg); m != nil {
		return flagName(m[1]) + ": needs a value"
	}
	if m := errBadBool.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s=%s: a switch takes no value (or true or false)", flagName(m[2]), m[1])
	}
	if m := errBadValue.FindStringSubmatch(msg); m != nil {
		value, name, why := m[1], m[2], m[3]
		if why == "value out of range" {
			return fmt.Sprintf("%s %s: out of range", flagName(name), value)
		}
		if want := wantedValue(flags, name); want != "" {
			return fmt.Sprintf("%s %s: not %s", flagName(name), value, want)
		}
		return fmt.Sprintf("%s %s: %s", flagName(name), value, why)
	}
	return msg
}

// asWritten is the argument that gave the unknown flag name, as the user wrote it.
func asWritten(name string, args []string) string {
	for _, a := range args {
		if n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") && n == name {
			w, _, _ := strings.Cut(a, "=")
			return w
		}
	}
	return flagName(name)
}

// flagName is how the help names a flag: -c, --segs.
func flagName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// wantedValue says what a flag's value must be, from its type ("" when nothing better than
// the parser's message can be said).
func wantedValue(flags []cli.Flag, name string) string {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			switch f.(type) {
			case *cli.IntFlag, *cli.Int64Flag:
				return "an integer"
			case *cli.UintFlag, *cli.Uint64Flag:
				return "an integer of 0 or more"
			case *cli.Float64Flag:
				return "a number"
			case *cli.DurationFlag:
				return "a duration such as 500ms or 2s"
			}
		}
	}
	return ""
}
