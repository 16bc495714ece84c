package cli

import "github.com/urfave/cli/v2"

// Version is the srv6oam release the commands were built from: `make build` and `make deb`
// set it (-ldflags -X) from the Makefile's VERSION; a plain `go build` leaves "devel".
var Version = "devel"

func init() {
	// urfave/cli's --version has the alias -v, which srv6-ping and srv6-trace use for
	// verbose output as iputils does: --version only.
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the srv6oam version and exit", DisableDefaultText: true}
}
