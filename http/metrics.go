package http

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/projections"
)

// Metrics holds parledger's Prometheus metrics on its own registry.
type Metrics struct {
	Registry *prometheus.Registry

	appended  *prometheus.CounterVec
	appendDur prometheus.Histogram
	conflicts prometheus.Counter
	failures  prometheus.Counter
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
}

// NewMetrics registers parledger's metrics, and the Go and process
// collectors, on a new registry. The projection gauges read runner and
// store when scraped.
func NewMetrics(store eventstore.Store, runner *projections.Runner) *Metrics {
	return NewMetricsOn(prometheus.NewRegistry(), store, runner)
}

// NewMetricsOn is NewMetrics on a registry the caller made (so that, for
// example, the EventStoreDB store registers its own metrics there too).
func NewMetricsOn(reg *prometheus.Registry, store eventstore.Store, runner *projections.Runner) *Metrics {
	m := &Metrics{
		Registry: reg,
		appended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parledger_events_appended_total", Help: "Events appended to the ledger, by event type.",
		}, []string{"type"}),
		appendDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parledger_append_duration_seconds", Help: "Duration of durable appends to the ledger.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parledger_append_conflicts_total", Help: "Appends refused because the stream was not at the expected revision.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parledger_append_failures_total", Help: "Appends that failed for a reason other than a conflict.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parledger_http_requests_total", Help: "HTTP requests by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "parledger_http_request_duration_seconds", Help: "HTTP request latency by route template and method.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"route", "method"}),
	}
	m.Registry.MustRegister(m.appended, m.appendDur, m.conflicts, m.failures, m.requests, m.duration,
		// go_gc_heap_live_bytes, the heap the last collection kept, is
		// the figure that shows what the projections hold (heap in use
		// counts garbage not yet collected too).
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parledger_projection_position", Help: "Global log position of the last event the projections applied.",
		}, func() float64 { return float64(runner.Position()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parledger_projection_lag_events", Help: "Events in the log that the projections have not applied yet.",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			head, err := store.Head(ctx)
			if err != nil || uint64(head) < uint64(runner.Position()) {
				return 0
			}
			return float64(head - runner.Position())
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parledger_projection_rebuild_seconds", Help: "How long the projections took to catch up with the log at start.",
		}, func() float64 { return runner.RebuildDuration().Seconds() }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parledger_projection_resubscribes_total", Help: "Subscriptions of the projections that dropped and were resumed.",
		}, func() float64 { return float64(runner.Drops()) }),
	)
	return m
}

// Appended records an append (ledger.Observer).
func (m *Metrics) Appended(types []string, d time.Duration, err error) {
	switch {
	case err == nil:
		m.appendDur.Observe(d.Seconds())
		for _, t := range types {
			m.appended.WithLabelValues(t).Inc()
		}
	case errors.Is(err, eventstore.ErrConflict):
		m.conflicts.Inc()
	default:
		m.failures.Inc()
	}
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
	// route is the template of the route that served the request (set by
	// recordRoute), "" when none matched.
	route string
}

// recordRoute is the router's middleware that tells instrument which
// route matched, so the request is matched once, by the router.
func recordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec, ok := w.(*statusRecorder); ok {
			if route := mux.CurrentRoute(r); route != nil {
				rec.route, _ = route.GetPathTemplate()
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Flush lets streaming handlers flush through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// instrument counts requests and their latency by route template, never by
// raw path.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Metrics == nil {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		route := rec.route
		if route == "" {
			route = "unmatched"
		}
		s.Metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(rec.status)).Inc()
		s.Metrics.duration.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
	})
}
