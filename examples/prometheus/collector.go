package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shmring/shmring/ring"
)

// Collector is a prometheus.Collector over one ring's Stats: every scrape
// takes a fresh snapshot, so nothing runs between scrapes. The ring's name
// is a constant label, so one registry can hold a Collector per ring.
//
// It reads the ring through ring.StatsVar, which may be read after the
// ring is closed (Ring.Stats may not: Close unmaps the header). A closed
// ring reports shmring_open 0 and nothing else.
type Collector struct {
	stats ring.StatsVar
	open  *prometheus.Desc

	// Gauges of the whole ring.
	slots, slotSize, fill, ready, created *prometheus.Desc
	// Per side (label side: producer or consumer).
	alive, closed                         *prometheus.Desc
	messages, bytes, stalls, waits, wakes *prometheus.Desc
}

// NewCollector returns a Collector for r under the label ring=name.
func NewCollector(name string, r *ring.Ring) *Collector {
	labels := prometheus.Labels{"ring": name}
	desc := func(metric, help string, side bool) *prometheus.Desc {
		var variable []string
		if side {
			variable = []string{"side"}
		}
		return prometheus.NewDesc("shmring_"+metric, help, variable, labels)
	}
	return &Collector{
		stats: r.StatsVar(),
		open:  desc("open", "1 while this process has the ring open; the other metrics only then.", false),

		slots:    desc("slots", "Slots in the ring.", false),
		slotSize: desc("slot_size_bytes", "Bytes per slot, the 4-byte length included.", false),
		fill:     desc("fill", "Messages published and not yet released.", false),
		ready:    desc("ready", "1 once the ring's header is initialised.", false),
		created:  desc("created_timestamp_seconds", "When the ring was created, in seconds since the epoch.", false),

		alive:  desc("alive", "1 while the side's holder process exists.", true),
		closed: desc("closed", "1 once the side has closed the ring.", true),

		messages: desc("messages_total", "Messages published (producer) or released (consumer).", true),
		bytes:    desc("bytes_total", "Payload bytes moved; lags messages by up to 64.", true),
		stalls:   desc("stalls_total", "Times the side found the ring full (producer) or empty (consumer) and waited.", true),
		waits:    desc("futex_waits_total", "Futex sleeps of the side.", true),
		wakes:    desc("futex_wakes_total", "Futex wakes the side sent its peer.", true),
	}
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.open, c.slots, c.slotSize, c.fill, c.ready, c.created,
		c.alive, c.closed, c.messages, c.bytes, c.stalls, c.waits, c.wakes} {
		ch <- d
	}
}

// Collect takes one snapshot of the ring's Stats and sends it as metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st, ok := c.stats.Stats()
	ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, boolValue(ok))
	if !ok {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, side ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, side...)
	}
	counter := func(d *prometheus.Desc, v uint64, side string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), side)
	}
	gauge(c.slots, float64(st.Slots))
	gauge(c.slotSize, float64(st.SlotSize))
	gauge(c.fill, float64(st.Fill))
	gauge(c.ready, boolValue(st.Ready))
	gauge(c.created, float64(st.Created.UnixNano())/1e9)
	for _, s := range []struct {
		name   string
		st     ring.SideStats
		closed bool
	}{
		{"producer", st.Producer, st.ProducerClosed},
		{"consumer", st.Consumer, st.ConsumerClosed},
	} {
		gauge(c.alive, boolValue(s.st.Alive), s.name)
		gauge(c.closed, boolValue(s.closed), s.name)
		counter(c.messages, s.st.Messages, s.name)
		counter(c.bytes, s.st.Bytes, s.name)
		counter(c.stalls, s.st.Stalls, s.name)
		counter(c.waits, s.st.Waits, s.name)
		counter(c.wakes, s.st.Wakes, s.name)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
