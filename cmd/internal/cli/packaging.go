package cli

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// Every command prints its own manual page and shell completion scripts, made from its flag
// definitions, so that what `make deb` installs in /usr/share/man and the completion
// directories is what --help says.
var (
	manPageFlag   = &cli.BoolFlag{Name: "man-page", Usage: "print this command's manual page (troff, for man) and exit", DisableDefaultText: true}
	completionFlg = &cli.StringFlag{Name: "completion", Usage: "print a completion script for `SHELL` (bash or zsh) and exit"}
)

// packaging adds --man-page and --completion to app and, when args ask for one, writes it to w
// and reports true (with the error of a bad --completion).
func packaging(app *cli.App, args []string, w io.Writer) (bool, error) {
	if !slices.Contains(app.Flags, cli.Flag(manPageFlag)) {
		app.Flags = append(app.Flags, manPageFlag, completionFlg)
	}
	// Setup adds --help and --version, which the page and the completions should name too;
	// Run's own Setup then does nothing more.
	app.Setup()
	for i, a := range args {
		if i == 0 {
			continue
		}
		switch {
		case a == "--man-page":
			page, err := app.ToManWithSection(8) // system administration, as ping(8)
			if err != nil {
				return true, err
			}
			_, err = io.WriteString(w, page)
			return true, err
		case a == "--completion" || strings.HasPrefix(a, "--completion="):
			shell, ok := strings.CutPrefix(a, "--completion=")
			if !ok && i+1 < len(args) {
				shell = args[i+1]
			}
			switch shell {
			case "bash":
				_, err := io.WriteString(w, bashCompletion(app))
				return true, err
			case "zsh":
				_, err := io.WriteString(w, zshCompletion(app))
				return true, err
			}
			return true, Usage("--completion %q: want bash or zsh", shell)
		}
	}
	return false, nil
}

// spellings are a flag's command-line forms: -x for a one-letter name, --name otherwise.
func spellings(f cli.Flag) []string {
	var out []string
	for _, n := range f.Names() {
		if len(n) == 1 {
			out = append(out, "-"+n)
		} else {
			out = append(out, "--"+n)
		}
	}
	return out
}

// visible are the flags --help lists.
func visible(flags []cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, f := range flags {
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
			continue
		}
		out = append(out, f)
	}
	return out
}

func words(flags []cli.Flag) string {
	var w []string
	for _, f := range visible(flags) {
		w = append(w, spellings(f)...)
	}
	return strings.Join(w, " ")
}

var notIdent = regexp.MustCompile(`[^A-Za-z0-9_]`)

// bashCompletion completes the flags (and an app's subcommands); other words complete as
// file names.
func bashCompletion(app *cli.App) string {
	fn := "_" + notIdent.ReplaceAllString(app.Name, "_")
	var b strings.Builder
	fmt.Fprintf(&b, "# bash completion for %s (%s --completion bash)\n", app.Name, app.Name)
	fmt.Fprintf(&b, "%s() {\n\tlocal cur=${COMP_WORDS[COMP_CWORD]} words=%q\n", fn, words(app.Flags))
	if len(app.Commands) > 0 {
		var names []string
		b.WriteString("\tcase ${COMP_WORDS[1]} in\n")
		for _, c := range app.Commands {
			if c.Hidden {
				continue
			}
			names = append(names, c.Names()...)
			fmt.Fprintf(&b, "\t%s) words=%q ;;\n", strings.Join(c.Names(), "|"), words(c.Flags))
		}
		b.WriteString("\tesac\n")
		fmt.Fprintf(&b, "\tif [[ $COMP_CWORD == 1 && $cur != -* ]]; then\n\t\tCOMPREPLY=($(compgen -W %q -- \"$cur\"))\n\t\treturn\n\tfi\n", strings.Join(names, " "))
	}
	b.WriteString("\tif [[ $cur == -* ]]; then\n\t\tCOMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n\telse\n\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n\tfi\n}\n")
	fmt.Fprintf(&b, "complete -F %s %s\n", fn, app.Name)
	return b.String()
}

// zshDescription escapes a usage text for an _arguments description.
func zshDescription(s string) string {
	s = strings.ReplaceAll(s, "`", "")
	r := strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`, `:`, `\:`, `'`, `'\''`)
	if i := strings.IndexAny(s, "\n"); i >= 0 {
		s = s[:i]
	}
	return r.Replace(s)
}

func zshSpecs(flags []cli.Flag) []string {
	var out []string
	for _, f := range visible(flags) {
		usage := ""
		if df, ok := f.(cli.DocGenerationFlag); ok {
			usage = df.GetUsage()
		}
		takes := ""
		if df, ok := f.(cli.DocGenerationFlag); ok && df.TakesValue() {
			takes = ":value:"
		}
		for _, s := range spellings(f) {
			out = append(out, fmt.Sprintf("'%s[%s]%s'", s, zshDescription(usage), takes))
		}
	}
	return out
}

// zshCompletion completes the flags with their usage (and an app's subcommands); other words
// complete as file names.
func zshCompletion(app *cli.App) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#compdef %s\n# zsh completion for %s (%s --completion zsh)\n", app.Name, app.Name, app.Name)
	if len(app.Commands) == 0 {
		b.WriteString("_arguments -s \\\n")
		for _, s := range zshSpecs(app.Flags) {
			b.WriteString("\t" + s + " \\\n")
		}
		b.WriteString("\t'*:argument:_files'\n")
		return b.String()
	}
	var cmds []string
	for _, c := range app.Commands {
		if !c.Hidden {
			cmds = append(cmds, fmt.Sprintf("'%s:%s'", c.Name, zshDescription(c.Usage)))
		}
	}
	b.WriteString("local -a commands\ncommands=(\n")
	for _, c := range cmds {
		b.WriteString("\t" + c + "\n")
	}
	b.WriteString(")\nif (( CURRENT == 2 )); then\n\t_describe command commands\n\treturn\nfi\ncase $words[2] in\n")
	for _, c := range app.Commands {
		if c.Hidden {
			continue
		}
		fmt.Fprintf(&b, "%s)\n\t_arguments -s \\\n", strings.Join(c.Names(), "|"))
		for _, s := range zshSpecs(c.Flags) {
			b.WriteString("\t\t" + s + " \\\n")
		}
		b.WriteString("\t\t'*:argument:_files' ;;\n")
	}
	b.WriteString("esac\n")
	return b.String()
}
