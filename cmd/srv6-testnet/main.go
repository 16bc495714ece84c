// Command srv6-testnet builds SRv6 labs of network namespaces from YAML
// topologies (package testnet) and works with running ones.
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	s6cli "github.com/srv6oam/srv6oam/cmd/internal/cli"

	"github.com/srv6oam/srv6oam/testnet"
)

// Exit statuses: 0 done; 1 failed (a topology that does not validate, a lab that cannot be
// built or is not there); 2 a mistake in the command line. exec's status is its command's (it
// becomes the command), or 125 when the command cannot be started in the node, 126 when it is
// not executable, 127 when it is not found, as env(1) and nice(1).
const (
	exitExecFailed      = 125
	exitNotExecutable   = 126
	exitCommandNotFound = 127
)

func main() { s6cli.Main(newApp(), s6cli.ExitFailure) }

func newApp() *cli.App {
	return &cli.App{
		Name:            "srv6-testnet",
		Version:         s6cli.Version,
		Usage:           "build SRv6 labs of Linux network namespaces from YAML topologies",
		UsageText:       "srv6-testnet COMMAND [options] [ARGUMENTS]",
		HideHelpCommand: true,
		Commands: []*cli.Command{
			{
				Name:      "up",
				Usage:     "build the lab of a topology file (or bundled name); returns once built, or stays in the foreground while delay links need their relay",
				ArgsUsage: "FILE",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Usage: "lab `NAME` (default: the topology's name, else the file name)"},
					&cli.BoolFlag{Name: "foreground", Usage: "stay in the foreground until SIGINT/SIGTERM, then tear the lab down"},
					&cli.BoolFlag{Name: "detach", Usage: "return once built even if the topology has delay links (refused: their relay lives in this process)"},
				},
				Action: up,
			},
			{
				Name:      "down",
				Usage:     "remove a lab: stop the processes in it (SIGTERM, SIGKILL after 5 s), delete its namespaces",
				ArgsUsage: "NAME",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "all", Usage: "remove every lab (every s6t-* namespace)"}},
				Action:    down,
			},
			{
				Name:      "status",
				Usage:     "list running labs, or show one: nodes, addresses, SIDs, policies (read from the kernel)",
				ArgsUsage: "[NAME]",
				Action:    status,
			},
			{
				Name:      "exec",
				Usage:     "run a command inside a node of a running lab, in place of this process (as ip netns exec): signals reach the command, its exit status is exec's",
				ArgsUsage: "NAME NODE [--] CMD [ARG...]",
				Action:    execCmd,
			},
			{
				Name:      "graph",
				Usage:     "print a topology as Graphviz DOT or Mermaid",
				ArgsUsage: "FILE",
				Flags:     []cli.Flag{&cli.StringFlag{Name: "format", Value: "dot", Usage: "`FORMAT`: dot or mermaid"}},
				Action:    graph,
			},
		},
		// Reached without a command or with one that does not exist.
		Action: func(c *cli.Context) error {
			if c.Args().First() == "help" {
				return cli.ShowAppHelp(c)
			}
			if c.NArg() == 0 {
				return &s6cli.UsageError{Err: errors.New("missing COMMAND: up, down, status, exec or graph"), Help: "srv6-testnet --help"}
			}
			return &s6cli.UsageError{Err: fmt.Errorf("unknown command %q: want up, down, status, exec or graph", c.Args().First()), Help: "srv6-testnet --help"}
		},
	}
}

func needRoot() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w; run as root (e.g. sudo)", testnet.ErrNotPermitted)
	}
	return nil
}

func up(c *cli.Context) error {
	if c.NArg() != 1 {
		return s6cli.Usage("up: want one topology FILE (or a bundled name: %s), got %d arguments", strings.Join(testnet.Bundled(), ", "), c.NArg())
	}
	topo, err := testnet.Load(c.Args().First())
	if err != nil {
		return err
	}
	if c.Bool("detach") && topo.HasDelay() {
		return errors.New("up --detach: the topology has delay links; their relay runs in this process, so the lab must stay in the foreground (drop --detach)")
	}
	if err := needRoot(); err != nil {
		return err
	}
	// SIGINT/SIGTERM while building cancels Up, which removes what it made.
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var opts []testnet.Option
	if n := c.String("name"); n != "" {
		opts = append(opts, testnet.WithName(n))
	}
	lab, err := testnet.Up(ctx, topo, opts...)
	if err != nil {
		return err
	}
	if err := printStatus(lab.Name()); err != nil {
		_ = lab.Close()
		return err
	}
	if !c.Bool("foreground") && !topo.HasDelay() {
		fmt.Printf("lab %s is up; remove it with: srv6-testnet down %s\n", lab.Name(), lab.Name())
		return nil // the namespaces outlive this process
	}
	fmt.Printf("lab %s is up (delay links relayed by this process, pid %d); Ctrl-C tears it down\n", lab.Name(), os.Getpid())
	<-ctx.Done()
	fmt.Printf("tearing down lab %s\n", lab.Name())
	return lab.Close()
}

func down(c *cli.Context) error {
	all := c.Bool("all")
	if all && c.NArg() != 0 || !all && c.NArg() != 1 {
		return s6cli.Usage("down: want a lab NAME or --all, got %d arguments", c.NArg())
	}
	if err := needRoot(); err != nil {
		return err
	}
	var removed []string
	var err error
	if all {
		removed, err = testnet.DownAll()
	} else {
		removed, err = testnet.Down(c.Args().First())
	}
	for _, ns := range removed {
		fmt.Println("removed namespace", ns)
	}
	return err
}

func status(c *cli.Context) error {
	if c.NArg() > 1 {
		return s6cli.Usage("status: want at most one lab NAME, got %d arguments", c.NArg())
	}
	if c.NArg() == 1 {
		return printStatus(c.Args().First())
	}
	labs, err := testnet.Labs()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(labs))
	for n := range labs {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		fmt.Println("no labs running")
	}
	for _, n := range names {
		fmt.Printf("%s\t%s\n", n, strings.Join(labs[n], " "))
	}
	return nil
}

func printStatus(lab string) error {
	nodes, err := testnet.Status(lab)
	if err != nil {
		return err
	}
	fmt.Printf("lab %s\n", lab)
	for _, n := range nodes {
		fmt.Printf("  %s (netns %s)\n", n.Node, n.Namespace)
		for _, i := range n.Interfaces {
			if len(i.Addrs) == 0 {
				continue
			}
			addrs := make([]string, len(i.Addrs))
			for k, a := range i.Addrs {
				addrs[k] = a.String()
			}
			fmt.Printf("    %-8s %s\n", i.Name, strings.Join(addrs, " "))
		}
		for _, s := range n.SIDs {
			fmt.Printf("    sid      %s\n", s)
		}
		for _, p := range n.Policies {
			fmt.Printf("    policy   %s\n", p)
		}
	}
	return nil
}

// execCmd becomes the command, in the node's namespace (testnet.ExecIn): nothing of
// srv6-testnet stays between the caller and the command, so the caller's signals are the
// command's and the command's status is the caller's, as a shell would report it (128+N for a
// command killed by signal N). `down` stops what is left of it with the lab.
func execCmd(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) > 2 && args[2] == "--" {
		args = append(args[:2], args[3:]...)
	}
	if len(args) < 3 {
		return s6cli.Usage("exec: want NAME NODE -- CMD [ARG...], got %d arguments", c.NArg())
	}
	if err := needRoot(); err != nil {
		return cli.Exit(err.Error(), exitExecFailed)
	}
	path, err := exec.LookPath(args[2])
	if errors.Is(err, exec.ErrDot) {
		err = nil // found in the current directory through PATH, as a shell would run it
	}
	if err != nil {
		return execError(args[2], err)
	}
	err = testnet.ExecIn(args[0], args[1], path, args[2:], os.Environ())
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Op == "exec" {
		return execError(args[2], pe.Err)
	}
	return cli.Exit(err.Error(), exitExecFailed)
}

// execError is the shell's status for a command that cannot run: 127 not found, 126 found but
// not executable.
func execError(name string, err error) error {
	var lookErr *exec.Error
	if errors.As(err, &lookErr) {
		err = lookErr.Err // its message repeats the name
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, exec.ErrNotFound) {
		return cli.Exit(fmt.Sprintf("exec %s: command not found", name), exitCommandNotFound)
	}
	return cli.Exit(fmt.Sprintf("exec %s: %v", name, err), exitNotExecutable)
}

func graph(c *cli.Context) error {
	if c.NArg() != 1 {
		return s6cli.Usage("graph: want one topology FILE, got %d arguments", c.NArg())
	}
	if f := c.String("format"); f != "dot" && f != "mermaid" {
		return s6cli.Usage("--format %s: want dot or mermaid", f)
	}
	topo, err := testnet.Load(c.Args().First())
	if err != nil {
		return err
	}
	out, err := testnet.Graph(topo, c.String("format"))
	if err != nil {
		return err
	}
	fmt.Print(out)
	return nil
}
