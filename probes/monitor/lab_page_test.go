package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// proxy makes the monitor's HTTP listener, inside node's namespace, reachable on this
// namespace's loopback, where the browser runs.
func proxy(t *testing.T, lab *testnet.Lab, node, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var d net.Conn
				if err := lab.Exec(node, func() error {
					var err error
					d, err = net.DialTimeout("tcp", addr, 5*time.Second)
					return err
				}); err != nil {
					return
				}
				defer d.Close()
				go func() { _, _ = io.Copy(d, c) }()
				_, _ = io.Copy(c, d)
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/"
}

// browser is Debian's chromium; without it a test fails under CI=true and skips elsewhere.
func browser(t *testing.T) string {
	t.Helper()
	b, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium not installed (CI=true: this test may not skip); run `make deps`")
		}
		t.Skip("chromium not installed; run `make deps` (Debian package chromium)")
	}
	return b
}

// browse opens url in headless Chromium; the browser lives as long as the test.
func browse(t *testing.T, browser, url string) context.Context {
	t.Helper()
	actx, acancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 1100),
		chromedp.Flag("disable-dev-shm-usage", true))...)
	t.Cleanup(acancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	// No timeout on the first Run's context: it would stop the browser (chromedp.Run).
	if _, err := chromedp.Run(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return ctx
}

// TestLabPage loads the monitor's page in headless Chromium (Debian's chromium, driven by
// chromedp) while the monitor runs the line4 jobs: the round-trip graph of via-r1-r2 holds
// the points /api/v1/jobs/via-r1-r2/history returns (every finished bucket, value for value),
// and when r2 stops receiving from r1 the job's segment turns red on the page. With
// SRV6OAM_SCREENSHOT=FILE the page is saved there as a PNG (docs/srv6-monitor.md's).
func TestLabPage(t *testing.T) {
	lab := labtest.Up(t, "line4")
	browser := browser(t)
	lm := startLabMonitor(t, lab, "h1", line4Jobs)
	ctx := browse(t, browser, proxy(t, lab, "h1", lm.addr))

	// Wait for a finished bucket (20 s) besides the current one.
	var api JobHistory
	lm.waitFor("two buckets of history", 60*time.Second, func() (bool, string) {
		resp, err := lm.client.Get("http://" + lm.addr + "/api/v1/jobs/via-r1-r2/history?window=900")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&api); err != nil {
			return false, err.Error()
		}
		return len(api.Series) == 1 && len(api.Series[0].Time) >= 2, fmt.Sprint(len(api.Series))
	})
	// The page refreshes every 5 s: wait until it has drawn at least those buckets.
	var data [][]*float64
	lm.waitFor("the page's graph", 30*time.Second, func() (bool, string) {
		var err error
		data, err = chromedp.Run(ctx, chromedp.Evaluate[[][]*float64](`(() => { const u = window.srv6monitor && window.srv6monitor.charts["via-r1-r2|0"]; return u ? u.data : null; })()`))
		if err != nil {
			return false, err.Error()
		}
		return len(data) == 7 && len(data[0]) >= len(api.Series[0].Time), fmt.Sprintf("%d columns", len(data))
	})
	s := api.Series[0]
	at := map[int64]int{}
	for i, t := range data[0] {
		if t != nil {
			at[int64(*t)] = i
		}
	}
	compared := 0
	for k := 0; k < len(s.Time)-1; k++ { // the last bucket is still filling
		i, ok := at[s.Time[k]]
		if !ok {
			t.Errorf("bucket %d of the API is not on the graph", s.Time[k])
			continue
		}
		for col, want := range map[int][]*float64{1: s.Min, 2: s.P25, 3: s.Median, 4: s.P75, 5: s.Max} {
			got := data[col][i]
			if (got == nil) != (want[k] == nil) || (got != nil && math.Abs(*got-*want[k]*1000) > 1e-9) {
				t.Errorf("bucket %d column %d: graph %v ms, API %v s", s.Time[k], col, deref(got), deref(want[k]))
			}
		}
		compared++
	}
	if compared == 0 {
		t.Fatal("no finished bucket compared")
	}

	// For the docs' image, a few minutes of history around the cut.
	shot := os.Getenv("SRV6OAM_SCREENSHOT") != ""
	if shot {
		time.Sleep(2 * time.Minute)
	}
	// Take the r1 → r2 link down: the segment turns red on the page.
	restore := dropFrom(t, lab, "r2", "r1")
	defer restore()
	var color string
	lm.waitFor("the segment red on the page", 60*time.Second, func() (bool, string) {
		var err error
		color, err = chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
			const s = document.querySelector('.job[data-job="via-r1-r2"] .meta .seg[data-segment="0"]');
			return s ? s.dataset.state + " " + getComputedStyle(s).backgroundColor : "";
		})()`))
		if err != nil {
			return false, err.Error()
		}
		return color == "down rgb(221, 34, 34)", color
	})
	if shot {
		time.Sleep(50 * time.Second) // the loss of two buckets, then the repair
		restore()
		time.Sleep(50 * time.Second)
		screenshot(t, ctx)
	}
}

// screenshot saves the page as a PNG in $SRV6OAM_SCREENSHOT when it is set.
func screenshot(t *testing.T, ctx context.Context) {
	t.Helper()
	out := os.Getenv("SRV6OAM_SCREENSHOT")
	if out == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
