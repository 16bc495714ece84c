package cli

import (
	"reflect"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestFlagsFirst(t *testing.T) {
	flags := []cli.Flag{&cli.IntFlag{Name: "c"}, &cli.BoolFlag{Name: "q"}, &cli.BoolFlag{Name: "D"}, &cli.StringFlag{Name: "segs"}}
	for _, c := range []struct{ in, want []string }{
		{[]string{"p", "dst"}, []string{"p", "--", "dst"}},
		{[]string{"p", "dst", "-c", "3"}, []string{"p", "-c", "3", "--", "dst"}},
		{[]string{"p", "-qD", "dst", "--segs", "a,b"}, []string{"p", "-qD", "--segs", "a,b", "--", "dst"}},
		{[]string{"p", "--segs=a", "dst", "-q"}, []string{"p", "--segs=a", "-q", "--", "dst"}},
		{[]string{"p", "-c"}, []string{"p", "-c"}},
	} {
		if got := FlagsFirst(flags, c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("FlagsFirst(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
