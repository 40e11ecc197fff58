package hj212

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Reassembler joins the parts of split transfers (PNUM/PNO) into one Packet.
//
// Parts are grouped by MN, ST, CN, DataTime and PNUM. Not by QN: in HJ 212-2017
// each part of a split transfer carries its own QN (Appendix C: …534, …535),
// so the first part's QN does not appear in the others, and guessing the next
// QNs would tie us to how a device numbers milliseconds. Every data upload
// part carries the DataTime of the period it belongs to (as in the split
// packets seen in the field), so MN+CN+DataTime names one transfer; a
// non-data command without DataTime groups by MN+ST+CN alone, which is safe
// because a datalogger sends one such transfer at a time.
//
// Memory is bounded: at most maxGroups transfers in progress, each of at most
// maxParts parts, each at most one frame. Time is an argument (now), never
// read from a clock; call Expire regularly to drop transfers that did not
// complete within the timeout. A Reassembler is not safe for concurrent use;
// use one per connection or guard it.
type Reassembler struct {
	maxGroups int
	maxParts  int
	timeout   time.Duration
	groups    map[splitKey]*splitGroup
}

type splitKey struct {
	mn, st, cn string
	dataTime   int64 // UnixMilli, 0 when absent
	pnum       int
}

type splitGroup struct {
	started time.Time
	parts   []Packet // index PNO-1
	have    int
}

// NewReassembler returns a Reassembler holding at most maxGroups transfers of
// at most maxParts parts each, and expiring a transfer timeout after its first
// part arrived.
func NewReassembler(maxGroups, maxParts int, timeout time.Duration) *Reassembler {
	return &Reassembler{
		maxGroups: max(maxGroups, 1),
		maxParts:  max(maxParts, 1),
		timeout:   timeout,
		groups:    make(map[splitKey]*splitGroup),
	}
}

// Len returns the number of transfers in progress.
func (r *Reassembler) Len() int { return len(r.groups) }

// Add adds a packet received at now. A packet that is not split is returned
// as is with done = true. A part is held until its transfer is complete; the
// part that completes it returns the joined Packet and done = true. A part
// received again replaces the earlier copy.
//
// The joined Packet has the header (QN, ST, CN, PW, MN, Flag without the D
// bit) and DataTime of part 1, no PNUM/PNO and no Raw, CP fields from every
// part in order (a field repeated with the same value is kept once) and the
// values of every part, where a code that appears in several parts is merged.
//
// Add fails, wrapping ErrSplit, when PNUM exceeds maxParts or when maxGroups
// transfers are already in progress (call Expire, or quarantine the part). When
// the parts of a complete transfer disagree on a statistic of the same code,
// the transfer is dropped and the error is a *JoinError holding its parts.
func (r *Reassembler) Add(p Packet, now time.Time) (joined Packet, done bool, err error) {
	if !p.Split() {
		return p, true, nil
	}
	if p.PNUM > r.maxParts {
		return Packet{}, false, fmt.Errorf("hj212: reassemble MN=%s CN=%s: PNUM=%d exceeds %d parts: %w", p.MN, p.CN, p.PNUM, r.maxParts, ErrSplit)
	}
	k := splitKey{mn: p.MN, st: p.ST, cn: p.CN, pnum: p.PNUM}
	if !p.DataTime.IsZero() {
		k.dataTime = p.DataTime.UnixMilli()
	}
	g := r.groups[k]
	if g == nil {
		if len(r.groups) >= r.maxGroups {
			return Packet{}, false, fmt.Errorf("hj212: reassemble MN=%s CN=%s: %d transfers in progress: %w", p.MN, p.CN, len(r.groups), ErrSplit)
		}
		g = &splitGroup{started: now, parts: make([]Packet, p.PNUM)}
		r.groups[k] = g
	}
	slot := &g.parts[p.PNO-1]
	if !slot.Split() {
		g.have++
	}
	*slot = p
	if g.have < len(g.parts) {
		return Packet{}, false, nil
	}
	delete(r.groups, k)
	joined, err = join(g.parts)
	if err != nil {
		return Packet{}, false, &JoinError{Parts: g.parts, Err: fmt.Errorf("hj212: reassemble MN=%s CN=%s: %w", p.MN, p.CN, err)}
	}
	return joined, true, nil
}

// JoinError is a complete split transfer whose parts could not be joined.
// Parts holds every part in PNO order, for quarantine. It unwraps to a
// *FieldError naming the conflicting field.
type JoinError struct {
	Parts []Packet
	Err   error
}

// Error implements error.
func (e *JoinError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *JoinError) Unwrap() error { return e.Err }

// Expire removes the transfers whose first part arrived timeout or more
// before now and returns their parts, oldest transfer first and in PNO order,
// so that the caller can quarantine them.
func (r *Reassembler) Expire(now time.Time) []Packet {
	var old []*splitGroup
	for k, g := range r.groups {
		if now.Sub(g.started) >= r.timeout {
			old = append(old, g)
			delete(r.groups, k)
		}
	}
	slices.SortStableFunc(old, func(a, b *splitGroup) int {
		if c := a.started.Compare(b.started); c != 0 {
			return c
		}
		pa, pb := first(a), first(b)
		return cmp.Or(cmp.Compare(pa.MN, pb.MN), cmp.Compare(pa.CN, pb.CN), pa.DataTime.Compare(pb.DataTime))
	})
	var parts []Packet
	for _, g := range old {
		for _, p := range g.parts {
			if p.Split() {
				parts = append(parts, p)
			}
		}
	}
	return parts
}

func first(g *splitGroup) Packet {
	for _, p := range g.parts {
		if p.Split() {
			return p
		}
	}
	return Packet{}
}

// join merges complete parts, in PNO order, into one packet.
func join(parts []Packet) (Packet, error) {
	out := parts[0]
	out.PNUM, out.PNO, out.Raw = 0, 0, ""
	out.Flag &^= FlagSplit
	out.CP = CP{}
	nv := 0
	for _, p := range parts {
		nv += len(p.CP.Values)
	}
	out.CP.Values = make([]Value, 0, nv)
	for _, p := range parts {
	fields:
		for _, f := range p.CP.Fields {
			for _, have := range out.CP.Fields {
				if have == f {
					continue fields
				}
			}
			out.CP.Fields = append(out.CP.Fields, f)
		}
		for _, v := range p.CP.Values {
			i := out.CP.index(v.Code)
			if i < 0 {
				v.Extra = slices.Clip(v.Extra)
				out.CP.Values = append(out.CP.Values, v)
				continue
			}
			if err := mergeValue(&out.CP.Values[i], v); err != nil {
				return Packet{}, fmt.Errorf("part %d: %w", p.PNO, err)
			}
		}
	}
	return out, nil
}

// mergeValue adds what v says to dst; a field both set to different values is
// an error.
func mergeValue(dst *Value, v Value) error {
	conflict := func(suffix string) error {
		return fieldErr(v.Code+"-"+suffix, "", "differs between parts")
	}
	for s := Rtd; s < numStats; s++ {
		x, ok := v.Get(s)
		if !ok {
			continue
		}
		if y, had := dst.Get(s); had && y != x {
			return conflict(s.String())
		}
		dst.Set(s, x)
	}
	for _, f := range [...]struct {
		dst *string
		v   string
		n   string
	}{{&dst.Flag, v.Flag, "Flag"}, {&dst.EFlag, v.EFlag, "EFlag"}} {
		if f.v == "" {
			continue
		}
		if *f.dst != "" && *f.dst != f.v {
			return conflict(f.n)
		}
		*f.dst = f.v
	}
	if !v.SampleTime.IsZero() {
		if !dst.SampleTime.IsZero() && !dst.SampleTime.Equal(v.SampleTime) {
			return conflict("SampleTime")
		}
		dst.SampleTime = v.SampleTime
	}
	dst.Extra = append(slices.Clip(dst.Extra), v.Extra...)
	return nil
}
