package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Event is one change of an alert (or of the silences) that the console is
// told about. It names what changed, not the whole alert: a client reads
// the alert from the API.
type Event struct {
	id       uint64
	agencies []string // owning agencies, for the ?agency= filter

	Ref     string `json:"ref,omitempty"`
	AlertID string `json:"alert_id,omitempty"`
	Status  string `json:"status,omitempty"`
	Level   string `json:"level,omitempty"`
	Seq     uint64 `json:"seq,omitempty"`
	// What is transition, ack, unack, comment or silence.
	What    string `json:"what"`
	Silence string `json:"silence_id,omitempty"`
}

// recordEvent names the change from old (nil for a new alert) to r that a
// duty officer sees; "" for changes only the service cares about
// (receiver state, timers).
func recordEvent(old, r *Record) (Event, bool) {
	ev := Event{Ref: r.Ref, AlertID: r.ID, Status: r.Status.String(), Level: r.Level.String(), Seq: r.Seq}
	for _, as := range r.Agencies {
		ev.agencies = append(ev.agencies, as.Agency)
	}
	switch {
	case old == nil || old.Seq != r.Seq || old.Episode != r.Episode:
		ev.What = "transition"
	case acks(r) > acks(old):
		ev.What = "ack"
	case acks(r) < acks(old):
		ev.What = "unack"
	case len(r.Comments) != len(old.Comments) ||
		(len(r.Comments) > 0 && r.Comments[len(r.Comments)-1] != old.Comments[len(old.Comments)-1]):
		ev.What = "comment"
	default:
		return ev, false
	}
	return ev, true
}

func acks(r *Record) int {
	n := 0
	for _, as := range r.Agencies {
		if as.Ack != nil {
			n++
		}
	}
	return n
}

var (
	errTooManyStreams = errors.New("too many event streams")
	errHubClosed      = errors.New("alert service stopping")
)

// hub fans events out to the event streams. Publishing never blocks: a
// subscriber whose buffer is full is dropped and told to resync.
type hub struct {
	m      *metrics
	max    int
	buffer int

	mu     sync.Mutex
	next   uint64
	subs   map[*sub]struct{}
	closed bool
}

type sub struct {
	agency string // "" for every alert
	ch     chan Event
	done   chan struct{} // closed when the hub drops the subscriber
	reason string        // why, set before done is closed
}

func newHub(m *metrics, maxSubs, buffer int) *hub {
	return &hub{m: m, max: maxSubs, buffer: buffer, subs: map[*sub]struct{}{}}
}

func (h *hub) subscribe(agency string) (*sub, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return nil, errHubClosed
	case len(h.subs) >= h.max:
		return nil, errTooManyStreams
	}
	s := &sub{agency: agency, ch: make(chan Event, h.buffer), done: make(chan struct{})}
	h.subs[s] = struct{}{}
	h.m.sseClients.Set(float64(len(h.subs)))
	return s, nil
}

func (h *hub) unsubscribe(s *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		h.m.sseClients.Set(float64(len(h.subs)))
	}
}

// drop ends s's stream; h.mu is held.
func (h *hub) drop(s *sub, reason string) {
	delete(h.subs, s)
	s.reason = reason
	close(s.done)
}

// idle reports whether no stream is open, so that the service can skip
// building events nobody reads.
func (h *hub) idle() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) == 0
}

func (h *hub) publish(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next++
	ev.id = h.next
	for s := range h.subs {
		if s.agency != "" && ev.What != "silence" && !slices.Contains(ev.agencies, s.agency) {
			continue
		}
		select {
		case s.ch <- ev:
		default:
			h.drop(s, "overflow")
			h.m.sseDropped.Inc()
		}
	}
	h.m.sseClients.Set(float64(len(h.subs)))
}

// close ends every stream (service shutdown) and refuses new ones.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		h.drop(s, "shutdown")
	}
	h.m.sseClients.Set(0)
}

// Stream timing; a write that cannot finish in sseWriteTimeout (a client
// that stopped reading) ends the stream.
const (
	sseHeartbeat    = 15 * time.Second
	sseRetry        = 3 * time.Second
	sseWriteTimeout = 10 * time.Second
)

// events is GET /api/v1/events: a text/event-stream of the changes to the
// alerts the token may list (every alert, as GET /api/v1/alerts; with
// ?agency=ID the alerts routed to that agency, as the list's filter).
// The answer is written here; wrap only counts it.
func (a *API) events(w http.ResponseWriter, r *http.Request, _ *Agency) (int, any) {
	rc := http.NewResponseController(w)
	s, err := a.s.hub.subscribe(r.URL.Query().Get("agency"))
	switch {
	case errors.Is(err, errTooManyStreams):
		w.Header().Set("Retry-After", "30")
		return http.StatusServiceUnavailable, apiError{"too many event streams; poll GET /api/v1/alerts"}
	case err != nil:
		return http.StatusServiceUnavailable, apiError{err.Error()}
	}
	defer a.s.hub.unsubscribe(s)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // a reverse proxy must not buffer the stream
	w.WriteHeader(http.StatusOK)
	write := func(frame string) bool {
		// The deadline is per write, so a server WriteTimeout never cuts a
		// healthy stream and a stuck client never holds this goroutine.
		_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
		if _, err := fmt.Fprint(w, frame); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write("retry: " + strconv.FormatInt(sseRetry.Milliseconds(), 10) + "\n: connected\n\n") {
		return 0, nil
	}
	beat := time.NewTicker(sseHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return 0, nil
		case <-s.done:
			b, _ := json.Marshal(map[string]string{"reason": s.reason})
			write("event: resync\ndata: " + string(b) + "\n\n")
			return 0, nil
		case ev := <-s.ch:
			b, _ := json.Marshal(ev)
			if !write("id: " + strconv.FormatUint(ev.id, 10) + "\nevent: alert\ndata: " + string(b) + "\n\n") {
				return 0, nil
			}
		case <-beat.C:
			if !write(": heartbeat\n\n") {
				return 0, nil
			}
		}
	}
}
