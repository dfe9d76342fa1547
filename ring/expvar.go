package ring

import "encoding/json"

// StatsVar is a ring's Stats as an expvar.Var: its String method returns
// them as JSON (the names of Stats' doc), so
//
//	expvar.Publish(name, r.StatsVar())
//
// serves them at /debug/vars. expvar.Publish panics if the name is taken
// (there is no Unpublish): publish a ring once, under a name of its own,
// or give every ring a key of an expvar.Map, whose Set replaces:
//
//	rings.Set("orders", r.StatsVar())
//
// A StatsVar may be read at any time: an expvar lives as long as the
// process, its ring may not. Once the ring's Close has begun it holds no
// stats (String returns null), and it never touches the header again,
// which Close unmaps.
//
// The ring package does not import expvar, which would register a
// handler on http.DefaultServeMux in every program that uses a ring; a
// StatsVar is an expvar.Var because it has the one method the interface
// asks for.
type StatsVar struct{ r *Ring }

// StatsVar returns r's Stats as an expvar.Var (see [StatsVar]).
func (r *Ring) StatsVar() StatsVar { return StatsVar{r} }

// Stats returns the ring's Stats, or false once the ring's Close has
// begun. It holds the ring's lock while it reads them, so Close cannot
// unmap the header meanwhile; like Ring.Stats, it reads /proc to tell
// whether each side's process is alive.
func (v StatsVar) Stats() (Stats, bool) { return v.r.snapshot() }

// String returns the ring's Stats as a JSON object, or null once the
// ring's Close has begun.
func (v StatsVar) String() string {
	st, ok := v.Stats()
	if !ok {
		return "null"
	}
	b, err := json.Marshal(st)
	if err != nil {
		// Stats holds numbers, booleans and a time: only a Created
		// outside years 0-9999 fails, and a header can hold none.
		return "null"
	}
	return string(b)
}
