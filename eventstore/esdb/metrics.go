package esdb

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the store's Prometheus metrics (docs/deployment.md, "What
// to monitor").
type metrics struct {
	drops          prometheus.Counter
	resubscribes   prometheus.Counter
	recreations    prometheus.Counter
	appendRetries  prometheus.Counter
	hashMismatches prometheus.Counter
	positionScans  prometheus.Counter
	unavailable    *prometheus.CounterVec
	subscriptions  prometheus.Gauge
	appendSeconds  prometheus.Histogram
}

func newMetrics() *metrics {
	return &metrics{
		drops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parledger_esdb_subscription_drops_total",
			Help: "Subscriptions to EventStoreDB that ended without their reader stopping them.",
		}),
		resubscribes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parledger_esdb_resubscribes_total",
			Help: "Subscriptions to EventStoreDB started again from the last event delivered after a drop.",
		}),
		recreations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parledger_esdb_client_recreations_total",
			Help: "EventStoreDB clients replaced because the server stayed unreachable or the client gave up discovery.",
		}),
		appendRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parledger_esdb_append_retries_total",
			Help: "Append attempts repeated with the same event ids after an unavailable server or a lost response.",
		}),
		hashMismatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parledger_esdb_hash_mismatches_total",
			Help: "Events read from EventStoreDB whose content no longer matches their content hash.",
		}),
		positionScans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parledger_esdb_position_scans_total",
			Help: "Reads and subscriptions that had to start before the requested position, because it is not a position the store knows, and skip events.",
		}),
		unavailable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parledger_esdb_unavailable_total",
			Help: "Operations that failed because EventStoreDB was unreachable or too slow, by operation.",
		}, []string{"operation"}),
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parledger_esdb_subscriptions",
			Help: "Subscriptions to EventStoreDB running now.",
		}),
		appendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "parledger_esdb_append_duration_seconds",
			Help:    "Time to append events to EventStoreDB and read them back, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
}

// register registers every metric on reg, or none of them.
func (m *metrics) register(reg prometheus.Registerer) error {
	all := []prometheus.Collector{m.drops, m.resubscribes, m.recreations, m.appendRetries,
		m.hashMismatches, m.positionScans, m.unavailable, m.subscriptions, m.appendSeconds}
	for i, c := range all {
		if err := reg.Register(c); err != nil {
			for _, done := range all[:i] {
				reg.Unregister(done)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return errors.New("metrics: another store already registered its metrics on this registry")
			}
			return err
		}
	}
	return nil
}
