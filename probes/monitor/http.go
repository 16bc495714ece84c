package monitor

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// web is the page at / and what it loads (web/README.md).
//
//go:embed web/index.html web/app.js web/style.css web/uPlot.iife.min.js web/uPlot.min.css web/uPlot.LICENSE
var web embed.FS

// Handler serves / (the page: web/), /metrics (Prometheus, text or protobuf with native
// histograms), /healthz, /api/v1/jobs (every job's state as JSON) and
// /api/v1/jobs/{name}/history?window=SECONDS (a job's recent past, for the page).
func (m *Monitor) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(web, "web")
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "index.html")
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /api/v1/jobs/{name}/history", func(w http.ResponseWriter, r *http.Request) {
		window := time.Hour
		if v := r.URL.Query().Get("window"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 3600 {
				http.Error(w, "window: seconds, 1 to 3600", http.StatusBadRequest)
				return
			}
			window = time.Duration(n) * time.Second
		}
		h, ok := m.History(r.PathValue("name"), window)
		if !ok {
			http.Error(w, "no such job", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(h)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /api/v1/jobs", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"jobs": m.Jobs()})
	})
	return mux
}
