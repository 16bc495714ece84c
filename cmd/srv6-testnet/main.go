// Command srv6-testnet builds SRv6 labs of network namespaces from YAML
// topologies (package testnet) and works with running ones.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/srv6oam/srv6oam/testnet"
)

func main() {
	app := &cli.App{
		Name:  "srv6-testnet",
		Usage: "build SRv6 labs of Linux network namespaces from YAML topologies",
		Commands: []*cli.Command{
			{
				Name:      "up",
				Usage:     "build the lab of a topology file (or bundled name); returns once built, or stays in the foreground while delay links need their relay",
				ArgsUsage: "FILE",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Usage: "lab name (default: the topology's name, else the file name)"},
					&cli.BoolFlag{Name: "foreground", Usage: "stay in the foreground until SIGINT/SIGTERM, then tear the lab down"},
					&cli.BoolFlag{Name: "detach", Usage: "return once built even if the topology has delay links (refused: their relay lives in this process)"},
				},
				Action: up,
			},
			{
				Name:      "down",
				Usage:     "remove a lab (its namespaces and the processes left in them)",
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
				Usage:     "run a command inside a node of a running lab",
				ArgsUsage: "NAME NODE -- CMD [ARG...]",
				Action:    execCmd,
			},
			{
				Name:      "graph",
				Usage:     "print a topology as Graphviz DOT or Mermaid",
				ArgsUsage: "FILE",
				Flags:     []cli.Flag{&cli.StringFlag{Name: "format", Value: "dot", Usage: "dot or mermaid"}},
				Action:    graph,
			},
		},
	}
	if err := app.Run(os.Args); err != nil {
		var exit cli.ExitCoder
		if errors.As(err, &exit) {
			if msg := exit.Error(); msg != "" {
				fmt.Fprintln(os.Stderr, "srv6-testnet:", msg)
			}
			os.Exit(exit.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "srv6-testnet:", err)
		os.Exit(1)
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
		return errors.New("up: want one topology FILE (or a bundled name: " + strings.Join(testnet.Bundled(), ", ") + ")")
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
	if err := needRoot(); err != nil {
		return err
	}
	var removed []string
	var err error
	switch {
	case c.Bool("all") && c.NArg() == 0:
		removed, err = testnet.DownAll()
	case !c.Bool("all") && c.NArg() == 1:
		removed, err = testnet.Down(c.Args().First())
	default:
		return errors.New("down: want a lab NAME or --all")
	}
	for _, ns := range removed {
		fmt.Println("removed namespace", ns)
	}
	return err
}

func status(c *cli.Context) error {
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

func execCmd(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) > 2 && args[2] == "--" {
		args = append(args[:2], args[3:]...)
	}
	if len(args) < 3 {
		return errors.New("exec: want NAME NODE -- CMD [ARG...]")
	}
	if err := needRoot(); err != nil {
		return err
	}
	cmd := exec.Command(args[2], args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := testnet.StartIn(args[0], args[1], cmd); err != nil {
		return err
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return cli.Exit("", ee.ExitCode())
	}
	return err
}

func graph(c *cli.Context) error {
	if c.NArg() != 1 {
		return errors.New("graph: want one topology FILE")
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
