package ingest

import "time"

// rawValue is one parameter value as a decoder found it, before the registry
// has been consulted.
type rawValue struct {
	Param string
	Value float64
	Unit  string // unit stated by the payload (SenML), empty if none
	Flag  string
}

// rawReport is one station report as decoded, or the reason its element was
// refused.
type rawReport struct {
	Index  int // element index in a batch, -1 for a single object
	Raw    []byte
	Time   time.Time
	Seq    *int64
	Values []rawValue
	Err    *Reject // the element as a whole was refused
	// ValueErrs are values refused at decode time (wrong JSON type …).
	ValueErrs []*Reject
}
