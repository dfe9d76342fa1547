package app

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Report is what both commands print at the end; with -json, as one object
// with these field names.
type Report struct {
	Role       string  `json:"role"`
	Key        string  `json:"key"`
	Messages   uint64  `json:"messages"`
	Bytes      uint64  `json:"bytes"`
	Seconds    float64 `json:"seconds"` // first message to last
	MsgsPerSec float64 `json:"msgs_per_sec"`
	MBPerSec   float64 `json:"mb_per_sec"` // 10^6 bytes
	Size       int     `json:"size"`
	SlotSize   int     `json:"slot_size"`
	Slots      int     `json:"slots"`
	// SlotsPerMessage: a message of Size bytes larger than a slot's
	// payload travels in fragments, one slot each.
	SlotsPerMessage uint64 `json:"slots_per_message"`
	Wait            string `json:"wait"`
	NoTrail         bool   `json:"no_trail,omitempty"` // consumer: -no-trail
	Batch           int    `json:"batch"`
	Created         bool   `json:"created"` // this process created the ring
	// Fences: "asymmetric" (release stores, membarrier before a sleep)
	// or "symmetric" (full fences), as the ring's creator chose.
	Fences string `json:"fences"`
	// Ended says why the run ended: "count", "duration", "eof" (the
	// producer closed), "consumer closed", "interrupted" or "error".
	Ended string `json:"ended"`
	// Stalls: times this side found the ring full (producer) or empty
	// (consumer) and had to wait; Waits: of those, futex sleeps.
	Stalls uint64 `json:"stalls"`
	Waits  uint64 `json:"waits"`
	Note   string `json:"note,omitempty"`
	Error  string `json:"error,omitempty"`

	err error
}

func (r *Report) setRate(msgs, bytes uint64, first, last int64) {
	r.Messages, r.Bytes = msgs, bytes
	if msgs == 0 || last <= first {
		return
	}
	r.Seconds = float64(last-first) / 1e9
	r.MsgsPerSec = float64(msgs) / r.Seconds
	r.MBPerSec = float64(bytes) / 1e6 / r.Seconds
}

func (r *Report) fail(err error) {
	r.err = err
	r.Ended = "error"
	r.Error = err.Error()
}

func (r *Report) addNote(n string) {
	if n == "" {
		return
	}
	if r.Note != "" {
		r.Note += "; "
	}
	r.Note += n
}

// ProducerReport is the producer's report.
type ProducerReport struct {
	Report
	Rate float64 `json:"rate,omitempty"` // -rate asked for
	// Torn: messages given up in the middle (ring.ErrTorn: the consumer
	// stopped or died, or the run ended, while one larger than the ring
	// streamed), not counted in Messages.
	Torn uint64 `json:"torn"`
}

// Latency holds one-way latency percentiles in nanoseconds.
type Latency struct {
	P50  uint64  `json:"p50"`
	P90  uint64  `json:"p90"`
	P99  uint64  `json:"p99"`
	P999 uint64  `json:"p999"`
	Max  uint64  `json:"max"`
	Min  uint64  `json:"min"`
	Mean float64 `json:"mean"`
}

// ConsumerReport is the consumer's report.
type ConsumerReport struct {
	Report
	Lost       uint64 `json:"lost"`
	Duplicated uint64 `json:"duplicated"`
	Reordered  uint64 `json:"reordered"`
	Corrupt    uint64 `json:"corrupt"`
	// Torn: messages the ring tore and discarded (ring.ErrTorn), each
	// standing for the one expected next: not a failure of the checks.
	Torn      uint64  `json:"torn"`
	LatencyNS Latency `json:"latency_ns"`
}

type report interface {
	print(w io.Writer, asJSON bool) error
	problem() error // what makes the exit status non-zero
	exitCode() int
}

func (r *ProducerReport) exitCode() int { return exitCode(r.err) }

func (r *ProducerReport) problem() error { return r.err }

func (r *ConsumerReport) problem() error {
	if r.err != nil || !r.bad() {
		return r.err
	}
	return fmt.Errorf("check failed: %d lost, %d duplicated, %d reordered, %d corrupt",
		r.Lost, r.Duplicated, r.Reordered, r.Corrupt)
}

func (r *ConsumerReport) exitCode() int {
	if r.err != nil || r.bad() {
		return 1
	}
	return 0
}

func (r *ConsumerReport) bad() bool {
	return r.Lost+r.Duplicated+r.Reordered+r.Corrupt != 0
}

func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func (r *ProducerReport) print(w io.Writer, asJSON bool) error {
	if asJSON {
		return printJSON(w, r)
	}
	var b strings.Builder
	r.head(&b)
	fmt.Fprintf(&b, "  ring full %d times (%d futex sleeps)", r.Stalls, r.Waits)
	if r.Rate > 0 {
		fmt.Fprintf(&b, ", rate limit %s msg/s", si(r.Rate))
	}
	b.WriteString("\n")
	if r.Torn > 0 {
		fmt.Fprintf(&b, "  torn      %d messages given up in the middle (the ring's consumer discards them)\n", r.Torn)
	}
	r.tail(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *ConsumerReport) print(w io.Writer, asJSON bool) error {
	if asJSON {
		return printJSON(w, r)
	}
	var b strings.Builder
	r.head(&b)
	l := r.LatencyNS
	fmt.Fprintf(&b, "  latency   p50 %v  p90 %v  p99 %v  p99.9 %v  max %v\n",
		ns(l.P50), ns(l.P90), ns(l.P99), ns(l.P999), ns(l.Max))
	verdict := "OK"
	if r.bad() {
		verdict = "FAILED"
	}
	fmt.Fprintf(&b, "  checks    lost %d, duplicated %d, reordered %d, corrupt %d: %s\n",
		r.Lost, r.Duplicated, r.Reordered, r.Corrupt, verdict)
	if r.Torn > 0 {
		fmt.Fprintf(&b, "  torn      %d messages discarded by the ring: their producer gave up in the middle of one, or a wait ended there\n", r.Torn)
	}
	fmt.Fprintf(&b, "  ring empty %d times (%d futex sleeps)\n", r.Stalls, r.Waits)
	r.tail(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) head(b *strings.Builder) {
	fmt.Fprintf(b, "%s: %d messages of %s in %.3f s: %s msg/s, %.1f MB/s (ended: %s)\n",
		r.Role, r.Messages, bytesName(r.Size), r.Seconds, si(r.MsgsPerSec), r.MBPerSec, r.Ended)
	how := "opened"
	if r.Created {
		how = "created"
	}
	batch := "one message per call"
	if r.Batch > 1 {
		batch = fmt.Sprintf("batches of up to %d", r.Batch)
	}
	if r.NoTrail {
		batch += ", no trailing"
	}
	frags := ""
	if r.SlotsPerMessage > 1 {
		frags = fmt.Sprintf(" (%d per message)", r.SlotsPerMessage)
	}
	fmt.Fprintf(b, "  ring %s (%s): %d slots of %d bytes%s, %s fences, wait %s, %s\n",
		r.Key, how, r.Slots, r.SlotSize, frags, r.Fences, r.Wait, batch)
}

// bytesName formats a size in bytes, with its binary multiple when it has
// one: "64 bytes", "1048576 bytes (1 MiB)", "20000 bytes (19.5 KiB)".
func bytesName(n int) string {
	s := fmt.Sprintf("%d bytes", n)
	units := []string{"KiB", "MiB", "GiB"}
	v, u := float64(n), ""
	for i := 0; i < len(units) && v >= 1024; i++ {
		v, u = v/1024, units[i]
	}
	if u == "" {
		return s
	}
	return fmt.Sprintf("%s (%s %s)", s, strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64), u)
}

func fencesName(asymmetric bool) string {
	if asymmetric {
		return "asymmetric"
	}
	return "symmetric"
}

func (r *Report) tail(b *strings.Builder) {
	if r.Note != "" {
		fmt.Fprintf(b, "  note: %s\n", r.Note)
	}
}

// ns formats nanoseconds as a duration rounded to three significant digits.
func ns(v uint64) string {
	d := time.Duration(v)
	for r := time.Duration(1); r < time.Hour; r *= 10 {
		if d < 1000*r {
			return d.Round(r).String()
		}
	}
	return d.Round(time.Second).String()
}

// si formats v with a k/M/G suffix.
func si(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.2fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.2fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
