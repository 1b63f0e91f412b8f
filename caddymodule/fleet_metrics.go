package caddymodule

import "github.com/prometheus/client_golang/prometheus"

// fleetCollector reads the fleet's node-local numbers at scrape time; it
// reports nothing for a node that works alone.
type fleetCollector struct{}

var (
	fleetStats         = &fleetCollector{}
	descForwarded      = statDesc("forwarded_total", "Spooled sales published to the NATS stream by this node's forwarder.")
	descForwardQueue   = statDesc("forward_queue", "Sales in this node's spool: committed locally, not yet in the NATS stream.")
	descNATSConnected  = statDesc("nats_connected", "1 while this node is connected to NATS, else 0.")
	descFleetPublished = statDesc("fleet_published_total", "Sales published to the NATS stream at capture, acknowledged within publish_timeout.")
	descFleetDelivered = statDesc("fleet_delivered_total", "Sales this node delivered from the fleet's shared stream.")
)

func (fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descForwarded, descForwardQueue, descNATSConnected, descFleetPublished, descFleetDelivered} {
		ch <- d
	}
}

func (fleetCollector) Collect(ch chan<- prometheus.Metric) {
	var forwarded, published, delivered uint64
	var queue int64
	fleets, connected := 0, 0
	for _, d := range liveDeliveries() {
		if d.fleet == nil {
			continue
		}
		fleets++
		st := d.fleet.LocalStats()
		if st.Connected {
			connected++
		}
		forwarded += st.Forwarded
		published += st.Published
		delivered += st.Delivered
		queue += d.emitter.Stats().Queued
	}
	if fleets == 0 {
		return
	}
	ch <- prometheus.MustNewConstMetric(descForwarded, prometheus.CounterValue, float64(forwarded))
	ch <- prometheus.MustNewConstMetric(descForwardQueue, prometheus.GaugeValue, float64(queue))
	ch <- prometheus.MustNewConstMetric(descNATSConnected, prometheus.GaugeValue, float64(min(connected, 1)))
	ch <- prometheus.MustNewConstMetric(descFleetPublished, prometheus.CounterValue, float64(published))
	ch <- prometheus.MustNewConstMetric(descFleetDelivered, prometheus.CounterValue, float64(delivered))
}
