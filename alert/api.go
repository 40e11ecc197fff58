package alert

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/qingliu/qingliu/alert/notify"
	"github.com/qingliu/qingliu/domain"
)

// Mux is where the API is mounted (the process's admin server).
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// API is the HTTP API of the alert service.
type API struct {
	s     *Service
	mu    sync.Mutex
	limit map[string]*rate.Limiter
}

// Mount adds the API routes to mux.
func (s *Service) Mount(mux Mux) *API {
	a := &API{s: s, limit: map[string]*rate.Limiter{}}
	h := func(op string, auth bool, f func(w http.ResponseWriter, r *http.Request, ag *Agency) (int, any)) http.Handler {
		return a.wrap(op, auth, f)
	}
	mux.Handle("GET /api/v1/whoami", h("whoami", true, a.whoami))
	mux.Handle("GET /api/v1/alerts", h("list", true, a.list))
	mux.Handle("GET /api/v1/alerts/{id}", h("get", true, a.get))
	mux.Handle("GET /api/v1/events", h("events", true, a.events))
	mux.Handle("POST /api/v1/alerts/{id}/ack", h("ack", true, a.ack))
	mux.Handle("POST /api/v1/alerts/{id}/unack", h("unack", true, a.unack))
	mux.Handle("POST /api/v1/alerts/{id}/comments", h("comment", true, a.comment))
	mux.Handle("GET /api/v1/silences", h("silences", true, a.listSilences))
	mux.Handle("POST /api/v1/silences", h("silence", true, a.createSilence))
	mux.Handle("DELETE /api/v1/silences/{id}", h("expire", true, a.expireSilence))
	mux.Handle("GET /cap/{file}", a.wrapRaw("cap", a.cap))
	mux.Handle("GET /feeds/active.atom", a.wrapRaw("atom", a.atom))
	return a
}

type apiError struct {
	Error string `json:"error"`
}

func (a *API) limiter(key string) *rate.Limiter {
	rt := a.s.rt.Load()
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.limit[key]
	if !ok {
		if len(a.limit) > 4096 {
			clear(a.limit)
		}
		l = rate.NewLimiter(rate.Limit(rt.svc.rate), rt.svc.burst)
		a.limit[key] = l
	}
	return l
}

// authenticate returns the agency of the bearer token, comparing every
// token in constant time.
func (a *API) authenticate(r *http.Request) *Agency {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	var found *Agency
	for _, ag := range a.s.rt.Load().agencies {
		if ag.hasToken && subtle.ConstantTimeCompare(sum[:], ag.tokenHash[:]) == 1 {
			found = ag
		}
	}
	return found
}

func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (a *API) wrap(op string, auth bool, f func(w http.ResponseWriter, r *http.Request, ag *Agency) (int, any)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, body := a.serve(r, auth, f, w)
		if code == 0 { // f wrote the answer itself (an event stream)
			a.s.m.api.WithLabelValues(op, "200").Inc()
			return
		}
		a.s.m.api.WithLabelValues(op, strconv.Itoa(code)).Inc()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(code)
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		_ = enc.Encode(body)
	})
}

func (a *API) serve(r *http.Request, auth bool, f func(w http.ResponseWriter, r *http.Request, ag *Agency) (int, any), w http.ResponseWriter) (int, any) {
	rt := a.s.rt.Load()
	r.Body = http.MaxBytesReader(w, r.Body, rt.svc.maxBody)
	ag := a.authenticate(r)
	key := clientKey(r)
	if ag != nil {
		key = "agency:" + ag.ID
	}
	if !a.limiter(key).Allow() {
		return http.StatusTooManyRequests, apiError{"rate limit exceeded"}
	}
	if auth && ag == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="qingliu"`)
		return http.StatusUnauthorized, apiError{"missing or unknown bearer token"}
	}
	if a.s.Ready() != nil {
		return http.StatusServiceUnavailable, apiError{"alert service starting"}
	}
	return f(w, r, ag)
}

func (a *API) wrapRaw(op string, f func(w http.ResponseWriter, r *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt := a.s.rt.Load()
		ag := a.authenticate(r)
		key := clientKey(r)
		if ag != nil {
			key = "agency:" + ag.ID
		}
		code := http.StatusOK
		switch {
		case !a.limiter(key).Allow():
			code = http.StatusTooManyRequests
			w.Header().Set("Retry-After", "1")
			http.Error(w, "rate limit exceeded", code)
		case !rt.svc.publicFeeds && ag == nil:
			code = http.StatusUnauthorized
			http.Error(w, "missing or unknown bearer token", code)
		default:
			f(w, r)
			return
		}
		a.s.m.api.WithLabelValues(op, strconv.Itoa(code)).Inc()
	})
}

// read runs f on the loop with the cache; reads never wait for a store.
func (a *API) read(ctx context.Context, f func()) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return a.s.do(ctx, f)
}

// Whoami is the agency a token belongs to, for a client (the console) to
// say who is signed in.
type Whoami struct {
	Agency string `json:"agency"`
	Name   string `json:"name"`
	NameEN string `json:"name_en,omitempty"`
}

func (a *API) whoami(_ http.ResponseWriter, _ *http.Request, ag *Agency) (int, any) {
	return http.StatusOK, Whoami{Agency: ag.ID, Name: ag.Name, NameEN: ag.NameEN}
}

// AlertSummary is one alert in a list.
type AlertSummary struct {
	notify.Alert
	Held []string `json:"held,omitempty"`
}

func (a *API) list(_ http.ResponseWriter, r *http.Request, _ *Agency) (int, any) {
	q := r.URL.Query()
	var minLevel domain.Level
	if v := q.Get("level"); v != "" {
		l, err := domain.ParseLevel(v)
		if err != nil {
			return http.StatusBadRequest, apiError{err.Error()}
		}
		minLevel = l
	}
	limit := 500
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5000 {
			return http.StatusBadRequest, apiError{"limit: want 1..5000"}
		}
		limit = n
	}
	status := q.Get("status") // firing (default: firing and pending), resolved, all
	var out []AlertSummary
	err := a.read(r.Context(), func() {
		rt := a.s.rt.Load()
		for _, e := range a.s.cache {
			rec := e.rec
			switch status {
			case "", "active":
				if rec.Status == domain.Resolved {
					continue
				}
			case "all":
			default:
				if rec.Status.String() != status {
					continue
				}
			}
			if rec.Level < minLevel || (q.Get("station") != "" && rec.Last.Station != q.Get("station")) ||
				(q.Get("joint") != "" && strconv.FormatBool(rec.Last.Joint) != q.Get("joint")) ||
				(q.Get("agency") != "" && rec.agency(q.Get("agency")) == nil) {
				continue
			}
			if v := q.Get("acked"); v != "" {
				ag := q.Get("agency")
				acked := false
				for _, as := range rec.Agencies {
					if (ag == "" || as.Agency == ag) && as.Ack != nil {
						acked = true
					}
				}
				if strconv.FormatBool(acked) != v {
					continue
				}
			}
			sum := AlertSummary{Alert: rt.view(rec)}
			for _, rs := range rec.Receivers {
				if rs.Held != "" {
					sum.Held = append(sum.Held, rs.Receiver+": "+rs.Held)
				}
			}
			out = append(out, sum)
		}
	})
	if err != nil {
		return http.StatusServiceUnavailable, apiError{"alert service busy"}
	}
	slices.SortFunc(out, func(x, y AlertSummary) int {
		if x.Level != y.Level {
			return int(y.Level) - int(x.Level)
		}
		return y.UpdatedAt.Compare(x.UpdatedAt)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	if out == nil {
		out = []AlertSummary{}
	}
	return http.StatusOK, map[string]any{"alerts": out, "count": len(out)}
}

// lookup finds a record by ref or by (URL-escaped) alert id.
func (a *API) lookup(id string) *Record {
	if e, ok := a.s.cache[id]; ok {
		return e.rec
	}
	if e, ok := a.s.cache[RefOf(id)]; ok {
		return e.rec
	}
	return nil
}

// AlertDetail is one alert with its history.
type AlertDetail struct {
	Alert      notify.Alert `json:"alert"`
	Record     *Record      `json:"record"`
	Deliveries []LogEntry   `json:"deliveries"`
}

func (a *API) get(_ http.ResponseWriter, r *http.Request, _ *Agency) (int, any) {
	var d *AlertDetail
	err := a.read(r.Context(), func() {
		if rec := a.lookup(r.PathValue("id")); rec != nil {
			d = &AlertDetail{Alert: a.s.rt.Load().view(rec), Record: rec.clone()}
		}
	})
	if err != nil {
		return http.StatusServiceUnavailable, apiError{"alert service busy"}
	}
	if d == nil {
		return http.StatusNotFound, apiError{"no such alert"}
	}
	dl, err := a.s.Deliveries(r.Context(), d.Record.Ref)
	if err != nil {
		return http.StatusServiceUnavailable, apiError{"notification log unavailable"}
	}
	d.Deliveries = dl
	if d.Deliveries == nil {
		d.Deliveries = []LogEntry{}
	}
	return http.StatusOK, d
}

type writeReq struct {
	By      string `json:"by"`
	Comment string `json:"comment"`
	Text    string `json:"text"`
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("request body larger than %d bytes", mbe.Limit)
		}
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

var errForbidden = errors.New("forbidden")

// modify applies op to a record for agency ag, compare-and-set, retrying
// on a conflict with the latest version.
func (a *API) modify(ctx context.Context, id string, op func(rec *Record) error) (*Record, error) {
	var out *Record
	var opErr error
	err := a.read(ctx, func() {
		rec := a.lookup(id)
		if rec == nil {
			opErr = errNotFound
			return
		}
		e := a.s.cache[rec.Ref]
		c := rec.clone()
		if opErr = op(c); opErr != nil {
			return
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var failed bool
		nr, rev, err := a.s.casWrite(wctx, c, e.rev, func(latest *Record) *Record {
			l := latest.clone()
			if err := op(l); err != nil {
				failed = true
			}
			return l
		})
		if err != nil || failed {
			opErr = fmt.Errorf("store: %w", errors.Join(err, errConflict))
			return
		}
		a.s.cache[rec.Ref] = &entry{rec: nr, rev: rev}
		a.s.publishChange(rec, nr)
		out = nr
	})
	if err != nil {
		return nil, err
	}
	a.s.Kick()
	return out, opErr
}

var (
	errNotFound = errors.New("no such alert")
	errConflict = errors.New("conflicting change")
)

func (a *API) writeResult(rec *Record, err error) (int, any) {
	switch {
	case errors.Is(err, errNotFound):
		return http.StatusNotFound, apiError{err.Error()}
	case errors.Is(err, errForbidden):
		return http.StatusForbidden, apiError{"this alert is not routed to your agency"}
	case err != nil:
		var ve validationError
		if errors.As(err, &ve) {
			return http.StatusBadRequest, apiError{ve.Error()}
		}
		return http.StatusServiceUnavailable, apiError{"could not store the change; retry"}
	}
	return http.StatusOK, a.s.rt.Load().view(rec)
}

type validationError struct{ msg string }

func (v validationError) Error() string { return v.msg }

func (a *API) ackLike(r *http.Request, ag *Agency, action string) (int, any) {
	var req writeReq
	if err := decode(r, &req); err != nil {
		return http.StatusBadRequest, apiError{err.Error()}
	}
	if len(req.By) > 100 || len(req.Comment) > 2000 {
		return http.StatusBadRequest, apiError{"by at most 100 and comment at most 2000 bytes"}
	}
	now := a.s.now()
	rec, err := a.modify(r.Context(), r.PathValue("id"), func(rec *Record) error {
		as := rec.agency(ag.ID)
		if as == nil {
			return errForbidden
		}
		if action == "ack" {
			if as.Ack == nil {
				as.Ack = &Ack{By: orAgency(req.By, ag.ID), At: now, Comment: req.Comment}
			}
		} else {
			as.Ack = nil
		}
		rec.audit(now, ag.ID, req.By, action, req.Comment)
		return nil
	})
	if err == nil {
		a.s.log.Info("audit", "action", action, "agency", ag.ID, "alert_id", rec.ID)
	}
	return a.writeResult(rec, err)
}

func orAgency(by, agency string) string {
	if by == "" {
		return agency
	}
	return by
}

func (a *API) ack(_ http.ResponseWriter, r *http.Request, ag *Agency) (int, any) {
	return a.ackLike(r, ag, "ack")
}

func (a *API) unack(_ http.ResponseWriter, r *http.Request, ag *Agency) (int, any) {
	return a.ackLike(r, ag, "unack")
}

func (a *API) comment(_ http.ResponseWriter, r *http.Request, ag *Agency) (int, any) {
	var req writeReq
	if err := decode(r, &req); err != nil {
		return http.StatusBadRequest, apiError{err.Error()}
	}
	if req.Text == "" || len(req.Text) > 4000 || len(req.By) > 100 {
		return http.StatusBadRequest, apiError{"text is required (at most 4000 bytes)"}
	}
	now := a.s.now()
	rec, err := a.modify(r.Context(), r.PathValue("id"), func(rec *Record) error {
		if rec.agency(ag.ID) == nil {
			return errForbidden
		}
		rec.Comments = append(rec.Comments, Comment{At: now, Agency: ag.ID, Author: req.By, Text: req.Text})
		if n := len(rec.Comments) - maxComment; n > 0 {
			rec.Comments = slices.Delete(rec.Comments, 0, n)
			rec.Dropped += n
		}
		rec.audit(now, ag.ID, req.By, "comment", req.Text)
		return nil
	})
	if err == nil {
		a.s.log.Info("audit", "action", "comment", "agency", ag.ID, "alert_id", rec.ID)
	}
	return a.writeResult(rec, err)
}

// SilenceView is a silence with its state.
type SilenceView struct {
	*Silence
	State string `json:"state"`
}

func (a *API) listSilences(_ http.ResponseWriter, r *http.Request, _ *Agency) (int, any) {
	now := a.s.now()
	var out []SilenceView
	err := a.read(r.Context(), func() {
		for _, sl := range a.s.rt.Load().silences {
			out = append(out, SilenceView{sl, sl.State(now)})
		}
		for _, e := range a.s.silences {
			out = append(out, SilenceView{e.s.clone(), e.s.State(now)})
		}
	})
	if err != nil {
		return http.StatusServiceUnavailable, apiError{"alert service busy"}
	}
	if q := r.URL.Query().Get("state"); q != "" {
		out = slices.DeleteFunc(out, func(v SilenceView) bool { return v.State != q })
	}
	slices.SortFunc(out, func(x, y SilenceView) int { return y.StartsAt.Compare(x.StartsAt) })
	if out == nil {
		out = []SilenceView{}
	}
	return http.StatusOK, map[string]any{"silences": out}
}

type silenceReq struct {
	Matchers []string  `json:"matchers"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	Duration string    `json:"duration"`
	By       string    `json:"by"`
	Comment  string    `json:"comment"`
	// Maintenance makes a maintenance window: the matchers may select
	// stations only, and the rules engine skips their readings.
	Maintenance bool `json:"maintenance"`
}

// stationLabels are the labels a silence may select stations by.
var stationLabels = []string{"station", "city", "district", "river", "basin", "station_kind", "medium", "jurisdiction"}

// mayMute checks that every station the silence's station matchers select
// is in the agency's jurisdiction: an agency silences only its own
// stations. It returns the stations selected.
func (a *API) mayMute(ag *Agency, ms Matchers) ([]string, error) {
	var stationMs Matchers
	for _, m := range ms {
		if slices.Contains(stationLabels, m.Name) {
			stationMs = append(stationMs, m)
		}
	}
	jur := map[string][]string{}
	for _, e := range a.s.cache {
		st := e.rec.Last.Station
		for _, j := range e.rec.Last.Jurisdictions {
			if !slices.Contains(jur[st], j) {
				jur[st] = append(jur[st], j)
			}
		}
	}
	var sel []string
	for _, st := range a.s.opts.Registry.Stations() {
		j := jur[st.ID]
		if len(j) == 0 {
			j = []string{st.City}
		}
		l := Labels{"station": {st.ID}, "city": {st.City}, "district": {st.District}, "river": {st.River}, "basin": {st.Basin},
			"station_kind": {st.Kind}, "medium": {string(st.Medium)}, "jurisdiction": j}
		if !stationMs.Matches(l) {
			continue
		}
		if !ag.coversStation(l) {
			return nil, fmt.Errorf("%w: station %s is not in the jurisdiction of %s", errForbidden, st.ID, ag.ID)
		}
		sel = append(sel, st.ID)
	}
	return sel, nil
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (a *API) createSilence(_ http.ResponseWriter, r *http.Request, ag *Agency) (int, any) {
	var req silenceReq
	if err := decode(r, &req); err != nil {
		return http.StatusBadRequest, apiError{err.Error()}
	}
	ms, err := ParseMatchers(req.Matchers)
	if err != nil || len(ms) == 0 {
		return http.StatusBadRequest, apiError{fmt.Sprintf("matchers: %v", errors.Join(err, errors.New("at least one matcher, e.g. station=\"bj-shijiao\"")))}
	}
	now := a.s.now()
	if req.StartsAt.IsZero() {
		req.StartsAt = now
	}
	if req.Duration != "" {
		d, err := time.ParseDuration(req.Duration)
		if err != nil || d <= 0 {
			return http.StatusBadRequest, apiError{"duration: want e.g. 2h"}
		}
		req.EndsAt = req.StartsAt.Add(d)
	}
	switch {
	case !req.EndsAt.After(req.StartsAt) || !req.EndsAt.After(now):
		return http.StatusBadRequest, apiError{"ends_at (or duration) must be after starts_at and in the future"}
	case req.EndsAt.Sub(req.StartsAt) > 90*24*time.Hour:
		return http.StatusBadRequest, apiError{"a silence lasts at most 90 days"}
	case strings.TrimSpace(req.Comment) == "" || len(req.Comment) > 2000 || len(req.By) > 100:
		return http.StatusBadRequest, apiError{"comment (the reason) is required, at most 2000 bytes"}
	}
	if req.Maintenance {
		for _, m := range ms {
			if !slices.Contains(stationLabels, m.Name) {
				return http.StatusBadRequest, apiError{fmt.Sprintf("matchers: a maintenance window selects stations only (by %s), not by %q; use a silence (maintenance false) to mute alerts by rule or parameter",
					strings.Join(stationLabels, ", "), m.Name)}
			}
		}
	}
	sl := &Silence{ID: newID(), Matchers: ms, StartsAt: req.StartsAt, EndsAt: req.EndsAt, CreatedBy: ag.ID,
		Author: req.By, Comment: req.Comment, CreatedAt: now, Maintenance: req.Maintenance,
		Audit: []AuditEntry{{At: now, Actor: ag.ID, Author: req.By, Action: "create", Detail: req.Comment}}}
	var code int
	var body any
	err = a.read(r.Context(), func() {
		sel, err := a.mayMute(ag, ms)
		if err != nil {
			code, body = http.StatusForbidden, apiError{err.Error()}
			return
		}
		if len(sel) == 0 {
			code, body = http.StatusBadRequest, apiError{"the matchers select no station of the registry"}
			return
		}
		if sl.Maintenance {
			sl.Stations = sel
		}
		b, _ := json.Marshal(sl)
		wctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		rev, err := a.s.opts.Bus.Silences.Create(wctx, sl.ID, b)
		if err != nil {
			code, body = http.StatusServiceUnavailable, apiError{"could not store the silence; retry"}
			return
		}
		a.s.silences[sl.ID] = &silEntry{s: sl, rev: rev}
		a.s.hub.publish(Event{What: "silence", Silence: sl.ID})
		code, body = http.StatusCreated, SilenceView{sl, sl.State(now)}
	})
	if err != nil {
		return http.StatusServiceUnavailable, apiError{"alert service busy"}
	}
	if code == http.StatusCreated {
		a.s.log.Info("audit", "action", "silence", "agency", ag.ID, "silence", sl.ID, "matchers", strings.Join(ms.Strings(), ","), "maintenance", sl.Maintenance,
			"ends_at", sl.EndsAt)
		a.s.Kick()
	}
	return code, body
}

func (a *API) expireSilence(_ http.ResponseWriter, r *http.Request, ag *Agency) (int, any) {
	id := r.PathValue("id")
	now := a.s.now()
	var code int
	var body any
	err := a.read(r.Context(), func() {
		e, ok := a.s.silences[id]
		if !ok {
			code, body = http.StatusNotFound, apiError{"no such silence (silences from routing.yaml are changed there)"}
			return
		}
		if e.s.CreatedBy != ag.ID {
			if _, err := a.mayMute(ag, e.s.Matchers); err != nil {
				code, body = http.StatusForbidden, apiError{err.Error()}
				return
			}
		}
		sl := e.s.clone()
		if sl.EndsAt.After(now) {
			sl.EndsAt = now
		}
		sl.Audit = append(sl.Audit, AuditEntry{At: now, Actor: ag.ID, Action: "expire"})
		b, _ := json.Marshal(sl)
		wctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		rev, err := a.s.opts.Bus.Silences.Update(wctx, id, b, e.rev)
		if err != nil {
			code, body = http.StatusConflict, apiError{"the silence changed meanwhile; retry"}
			return
		}
		a.s.silences[id] = &silEntry{s: sl, rev: rev}
		a.s.hub.publish(Event{What: "silence", Silence: id})
		code, body = http.StatusOK, SilenceView{sl, sl.State(now)}
	})
	if err != nil {
		return http.StatusServiceUnavailable, apiError{"alert service busy"}
	}
	if code == http.StatusOK {
		a.s.log.Info("audit", "action", "expire_silence", "agency", ag.ID, "silence", id)
		a.s.Kick()
	}
	return code, body
}

// capPrev finds the first seq and the previous notable change of the
// current episode, for msgType and references.
func capPrev(rec *Record, sender string) (first bool, prev *notify.CAPRef) {
	var notable []Change
	for _, c := range rec.History {
		if c.Episode == rec.Episode && c.Event != "pending" {
			notable = append(notable, c)
		}
	}
	if len(notable) <= 1 {
		return true, nil
	}
	p := notable[len(notable)-2]
	a := notify.Alert{Ref: rec.Ref, Episode: rec.Episode, Seq: p.Seq}
	return false, &notify.CAPRef{Identifier: notify.CAPIdentifier(sender, &a), Sent: p.Applied}
}

func (a *API) cap(w http.ResponseWriter, r *http.Request) {
	ref, ok := strings.CutSuffix(r.PathValue("file"), ".xml")
	if !ok {
		http.NotFound(w, r)
		return
	}
	var doc []byte
	var err error
	_ = a.read(r.Context(), func() {
		rec := a.lookup(ref)
		if rec == nil {
			return
		}
		rt := a.s.rt.Load()
		v := rt.view(rec)
		first, prev := capPrev(rec, rt.svc.cap.Sender)
		doc, err = notify.MarshalCAP(notify.BuildCAP(&v, rt.svc.cap, first, prev))
	})
	if doc == nil || err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/cap+xml; charset=utf-8")
	_, _ = w.Write(doc)
}

func (a *API) atom(w http.ResponseWriter, r *http.Request) {
	var doc []byte
	_ = a.read(r.Context(), func() {
		rt := a.s.rt.Load()
		var active []notify.Alert
		updated := time.Unix(0, 0)
		for _, e := range a.s.cache {
			if e.rec.Status == domain.Firing {
				active = append(active, rt.view(e.rec))
				if e.rec.UpdatedAt.After(updated) {
					updated = e.rec.UpdatedAt
				}
			}
		}
		slices.SortFunc(active, func(x, y notify.Alert) int { return y.UpdatedAt.Compare(x.UpdatedAt) })
		doc, _ = notify.MarshalAtom(notify.BuildAtom(active, rt.svc.cap, rt.svc.publicURL+"/feeds/active.atom", updated))
	})
	if doc == nil {
		http.Error(w, "alert service busy", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	_, _ = w.Write(doc)
}
