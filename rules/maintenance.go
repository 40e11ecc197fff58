package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qingliu/qingliu/internal/bus"
)

// maintWatch follows the maintenance windows in the silences bucket (made
// through the alert service's API) and keeps the engine's run-time windows
// equal to them.
type maintWatch struct {
	w    jetstream.KeyWatcher
	recs map[string][]Maintenance // by bucket key
}

// watchMaintenance reads every maintenance window in kv and returns them
// with a watcher for later changes. The windows are known before the first
// reading (or replayed reading) is evaluated.
func watchMaintenance(ctx context.Context, kv jetstream.KeyValue) (*maintWatch, []Maintenance, error) {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("rules: watch maintenance windows in %s: %w", kv.Bucket(), err)
	}
	mw := &maintWatch{w: w, recs: map[string][]Maintenance{}}
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, nil, fmt.Errorf("rules: watch of %s closed", kv.Bucket())
			}
			if e == nil { // every current value delivered
				return mw, mw.windows(), nil
			}
			mw.apply(e)
		case <-ctx.Done():
			_ = w.Stop()
			return nil, nil, ctx.Err()
		}
	}
}

// apply records one bucket entry; it reports whether the windows changed.
func (mw *maintWatch) apply(e jetstream.KeyValueEntry) bool {
	old, had := mw.recs[e.Key()]
	if e.Operation() != jetstream.KeyValuePut {
		delete(mw.recs, e.Key())
		return had
	}
	ws, err := decodeMaintenance(e.Value())
	if err != nil {
		// The alert service wrote it; a record we cannot read is a bug
		// there, not a reason to stop evaluating.
		delete(mw.recs, e.Key())
		return had
	}
	if len(ws) == 0 {
		delete(mw.recs, e.Key())
		return had
	}
	mw.recs[e.Key()] = ws
	return !had || !slices.Equal(old, ws)
}

// windows returns every window, in a stable order.
func (mw *maintWatch) windows() []Maintenance {
	var out []Maintenance
	for _, ws := range mw.recs {
		out = append(out, ws...)
	}
	slices.SortFunc(out, func(a, b Maintenance) int {
		if c := strings.Compare(a.Station, b.Station); c != 0 {
			return c
		}
		return a.From.Compare(b.From)
	})
	return out
}

// decodeMaintenance turns a silences-bucket record into the windows of its
// stations; a silence that is not a maintenance window gives none.
func decodeMaintenance(b []byte) ([]Maintenance, error) {
	var r bus.MaintenanceRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if !r.Maintenance || !r.EndsAt.After(r.StartsAt) {
		return nil, nil
	}
	ws := make([]Maintenance, 0, len(r.Stations))
	for _, st := range r.Stations {
		ws = append(ws, Maintenance{Station: st, From: r.StartsAt, To: r.EndsAt, Reason: r.Comment})
	}
	return ws, nil
}

// followMaintenance applies each change of the silences bucket until ctx is
// done.
func (s *Stage) followMaintenance(ctx context.Context, mw *maintWatch) {
	for {
		select {
		case e, ok := <-mw.w.Updates():
			if !ok {
				return
			}
			if e == nil || !mw.apply(e) {
				continue
			}
			ws := mw.windows()
			if err := s.SetMaintenance(ctx, ws); err != nil {
				return
			}
			s.log.Info("maintenance windows changed", "windows", len(ws), "key", e.Key())
		case <-ctx.Done():
			return
		}
	}
}
