package main

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// The plots of the page, by file name. Each returns nil when the run has
// nothing to draw.
var plots = []struct {
	file, title string
	make        func(*Results) (*plot.Plot, error)
}{
	{"bench-throughput.svg", "Throughput against message size", throughputPlot},
	{"bench-latency.svg", "Round-trip latency percentiles, 64-byte messages", latencyPlot},
	{"bench-latency-size.svg", "Round-trip p50 against message size", latencySizePlot},
	{"bench-scale.svg", "Batched ring throughput against capacity", scalePlot},
}

// Each transport keeps its colour in every plot.
const (
	colRing = iota
	colRing2
	colRing3
	colRing4
	colC
	colC2
	colPipe
	colSocket
	colChan
	colFutex
	colFloor
)

var palette = []color.Color{
	colRing:   color.RGBA{R: 0x1f, G: 0x5f, B: 0xbf, A: 0xff}, // blue
	colRing2:  color.RGBA{R: 0x5f, G: 0xaf, B: 0xef, A: 0xff}, // light blue
	colRing3:  color.RGBA{R: 0x10, G: 0x90, B: 0x90, A: 0xff}, // teal
	colRing4:  color.RGBA{R: 0x60, G: 0xc0, B: 0xb0, A: 0xff}, // light teal
	colC:      color.RGBA{R: 0x20, G: 0x20, B: 0x20, A: 0xff}, // black
	colC2:     color.RGBA{R: 0x70, G: 0x70, B: 0x50, A: 0xff}, // dark olive
	colPipe:   color.RGBA{R: 0xe0, G: 0x70, B: 0x10, A: 0xff}, // orange
	colSocket: color.RGBA{R: 0x90, G: 0x30, B: 0xa0, A: 0xff}, // purple
	colChan:   color.RGBA{R: 0x20, G: 0x90, B: 0x40, A: 0xff}, // green
	colFutex:  color.RGBA{R: 0x90, G: 0x90, B: 0x90, A: 0xff}, // grey
	colFloor:  color.RGBA{R: 0xc0, G: 0x20, B: 0x20, A: 0xff}, // red
}

// writeSVG renders p as an SVG of the page's standard size.
func writeSVG(w io.Writer, p *plot.Plot) error {
	wt, err := p.WriterTo(8*vg.Inch, 5*vg.Inch, "svg")
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}

// sizeTicks labels a log axis of message sizes: 8B, 64B, ... 64KiB.
type sizeTicks struct{ values []int }

func (t sizeTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for _, v := range t.values {
		if f := float64(v); f >= lo && f <= hi {
			ts = append(ts, plot.Tick{Value: f, Label: sizeName(v)})
		}
	}
	return ts
}

// logTicks labels a log axis at 1, 10, 100, ... with minor ticks at 2..9.
type logTicks struct{ format func(float64) string }

func (t logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		base := math.Pow(10, e)
		for m := 1.0; m < 10; m++ {
			v := m * base
			if v < lo || v > hi {
				continue
			}
			tk := plot.Tick{Value: v}
			if m == 1 {
				tk.Label = t.format(v)
			}
			ts = append(ts, tk)
		}
	}
	return ts
}

func plainNumber(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func nsLabel(v float64) string {
	switch {
	case v >= 1e6:
		return plainNumber(v/1e6) + " ms"
	case v >= 1e3:
		return plainNumber(v/1e3) + " µs"
	}
	return plainNumber(v) + " ns"
}

func newLogLog(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	return p
}

// addSeries adds one line per series that has at least one point, and
// reports how many it added.
func addSeries(p *plot.Plot, series []series) (int, error) {
	n := 0
	for i, s := range series {
		if len(s.xy) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(s.xy)
		if err != nil {
			return 0, err
		}
		c := palette[s.color%len(palette)]
		l.Color, pts.Color = c, c
		l.Width = vg.Points(1.5)
		l.Dashes = plotutil.Dashes(i)
		pts.Shape = plotutil.Shape(i)
		p.Add(l, pts)
		p.Legend.Add(s.label, l, pts)
		n++
	}
	return n, nil
}

type series struct {
	label string
	color int
	xy    plotter.XYs
}

func throughputPlot(rs *Results) (*plot.Plot, error) {
	p := newLogLog("Throughput against message size (one way, two processes)", "message size", "MB/s of payload")
	p.X.Tick.Marker = sizeTicks{sizes}
	p.Y.Tick.Marker = logTicks{plainNumber}
	var ss []series
	for _, t := range throughputTransports {
		s := series{label: t.label, color: t.color}
		for _, size := range sizes {
			if v, ok := rs.Get(tputName(t.name, size), "MB/s"); ok && v > 0 {
				s.xy = append(s.xy, plotter.XY{X: float64(size), Y: v})
			}
		}
		ss = append(ss, s)
	}
	return orNil(p, ss)
}

func latencyPlot(rs *Results) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Round-trip latency, 64-byte messages (two processes)"
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "round trip"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{nsLabel}
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, true
	qs := []struct{ unit, label string }{{"p50-ns", "p50"}, {"p99-ns", "p99"}, {"p99.9-ns", "p99.9"}}
	var ticks plot.ConstantTicks
	for i, q := range qs {
		ticks = append(ticks, plot.Tick{Value: float64(i), Label: q.label})
	}
	p.X.Tick.Marker = ticks
	p.X.Min, p.X.Max = -0.2, float64(len(qs))-0.8
	var ss []series
	for _, t := range roundTripTransports {
		s := series{label: t.label, color: t.color}
		for i, q := range qs {
			if v, ok := rs.Get(rttName(t.name, 64), q.unit); ok && v > 0 {
				s.xy = append(s.xy, plotter.XY{X: float64(i), Y: v})
			}
		}
		ss = append(ss, s)
	}
	return orNil(p, ss)
}

func latencySizePlot(rs *Results) (*plot.Plot, error) {
	p := newLogLog("Round-trip p50 against message size (two processes)", "message size", "p50 round trip")
	p.X.Tick.Marker = sizeTicks{sizes}
	p.Y.Tick.Marker = logTicks{nsLabel}
	var ss []series
	for _, t := range roundTripTransports {
		s := series{label: t.label, color: t.color}
		for _, size := range sizes {
			if v, ok := rs.Get(rttName(t.name, size), "p50-ns"); ok && v > 0 {
				s.xy = append(s.xy, plotter.XY{X: float64(size), Y: v})
			}
		}
		ss = append(ss, s)
	}
	return orNil(p, ss)
}

func scalePlot(rs *Results) (*plot.Plot, error) {
	p := newLogLog("Batched ring throughput against capacity", "slots", "messages per second")
	p.X.Tick.Marker = logTicks{func(v float64) string { return plainNumber(v) }}
	var ticks plot.ConstantTicks
	for _, s := range scaleSlots {
		ticks = append(ticks, plot.Tick{Value: float64(s), Label: slotsLabel(s)})
	}
	p.X.Tick.Marker = ticks
	p.Y.Tick.Marker = logTicks{func(v float64) string { return plainNumber(v/1e6) + "M" }}
	var ss []series
	for i, size := range scaleSizes {
		s := series{label: sizeName(size) + " messages", color: i}
		for _, slots := range scaleSlots {
			if v, ok := rs.Get(scaleName(size, slots), "msgs/s"); ok && v > 0 {
				s.xy = append(s.xy, plotter.XY{X: float64(slots), Y: v})
			}
		}
		ss = append(ss, s)
	}
	return orNil(p, ss)
}

func slotsLabel(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMi", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKi", n>>10)
	}
	return strconv.Itoa(n)
}

// orNil adds the series to p, or returns nil if none has a point.
func orNil(p *plot.Plot, ss []series) (*plot.Plot, error) {
	n, err := addSeries(p, ss)
	if err != nil || n == 0 {
		return nil, err
	}
	// The legend sits in the top left corner, over the data area: on the
	// log axis, leave the top third or so of the height free for it.
	lo, hi := math.Inf(1), math.Inf(-1)
	xlo, xhi := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, xy := range s.xy {
			lo, hi = min(lo, xy.Y), max(hi, xy.Y)
			xlo, xhi = min(xlo, xy.X), max(xhi, xy.X)
		}
	}
	decades := max(math.Log10(hi/lo), 1)
	p.Y.Min = lo / math.Pow(10, 0.1)
	p.Y.Max = hi * math.Pow(10, 0.55*decades+0.15)
	if _, isLog := p.X.Scale.(plot.LogScale); isLog {
		// Room for the last tick's label.
		p.X.Min, p.X.Max = xlo/1.2, xhi*1.4
	}
	p.Legend.Padding = vg.Points(2)
	p.Legend.ThumbnailWidth = vg.Points(28)
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(4)
	return p, nil
}
