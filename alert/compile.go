package alert

import (
	"crypto/sha256"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qingliu/qingliu/alert/notify"
	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/conf"
	"github.com/qingliu/qingliu/registry"
)

// Routing is routing.yaml compiled: immutable, safe for concurrent use. A
// reload compiles a new Routing and swaps it in.
type Routing struct {
	svc       serviceOpts
	agencies  []*Agency
	agencyBy  map[string]*Agency
	receivers []*Receiver
	recvBy    map[string]*Receiver
	root      *Route
	routeBy   map[string]*Route
	inhibit   []*inhibitRule
	silences  []*Silence
	templates *notify.Templates
	reg       *registry.Registry
}

type serviceOpts struct {
	publicURL         string
	cap               notify.CAPOptions
	resolvedRetention time.Duration
	tick              time.Duration
	maxBody           int64
	rate              float64
	burst             int
	publicFeeds       bool
}

// Agency is a compiled agency.
type Agency struct {
	ID, Name, NameEN string
	tokenHash        [32]byte
	hasToken         bool
	cities           []string
	districts        []string
	rivers           []string
	kinds            []string
	classes          []string
	Escalation       *Escalation
}

// Escalation is an agency's escalation policy.
type Escalation struct {
	MinLevel domain.Level
	After    time.Duration
	Chain    []string
}

// Receiver is a compiled receiver.
type Receiver struct {
	Name, Agency string
	Kind         string // webhook, email, sms, nats
	MinLevel     domain.Level
	SendResolved bool
	Quiet        *quietHours
	Concurrency  int
	RetryInitial time.Duration
	RetryMax     time.Duration
	GiveUpAfter  time.Duration
	cfg          ReceiverConfig
}

// Route is a compiled node of the routing tree.
type Route struct {
	ID             string // path: 0, 0.1, 0.1.2
	Matchers       Matchers
	Receivers      []string
	Continue       bool
	GroupBy        []string
	GroupWait      time.Duration
	RepeatInterval time.Duration
	Children       []*Route
}

type inhibitRule struct {
	name   string
	source Matchers
	target Matchers
	equal  []string
}

type quietHours struct {
	from, to int // minutes after local midnight
	loc      *time.Location
}

// in reports whether t is inside the quiet hours.
func (q *quietHours) in(t time.Time) bool {
	if q == nil {
		return false
	}
	lt := t.In(q.loc)
	m := lt.Hour()*60 + lt.Minute()
	if q.from <= q.to {
		return m >= q.from && m < q.to
	}
	return m >= q.from || m < q.to
}

var (
	idRe       = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	hhmmRe     = regexp.MustCompile(`^([01]\d|2[0-3]):([0-5]\d)$`)
	chinaTime  = time.FixedZone("CST", 8*3600)
	alertClass = []string{"value", "joint", "technical"}
)

// Compile validates c against the station registry and builds the runtime
// types. Every problem is reported with its path.
func Compile(c *Config, reg *registry.Registry) (*Routing, error) {
	ps := conf.Problems{File: c.File}
	rt := &Routing{agencyBy: map[string]*Agency{}, recvBy: map[string]*Receiver{}, routeBy: map[string]*Route{}, reg: reg}
	rt.compileService(c, &ps)
	for i, ac := range c.Agencies {
		rt.compileAgency(i, ac, &ps)
	}
	langs := map[string]bool{"zh": true, "en": true}
	for i, rc := range c.Receivers {
		rt.compileReceiver(i, rc, &ps, langs)
	}
	for i, a := range rt.agencies {
		if a.Escalation == nil {
			continue
		}
		for j, name := range a.Escalation.Chain {
			r, ok := rt.recvBy[name]
			switch {
			case !ok:
				ps.Addf(fmt.Sprintf("agencies[%d].escalation.chain[%d]", i, j), "unknown receiver %q", name)
			case r.Agency != a.ID:
				ps.Addf(fmt.Sprintf("agencies[%d].escalation.chain[%d]", i, j), "receiver %q belongs to agency %s", name, r.Agency)
			}
		}
	}
	defaults := Route{GroupBy: []string{"event"}, GroupWait: 0, RepeatInterval: 4 * time.Hour}
	rt.root = rt.compileRoute("route", "0", c.Route, &defaults, &ps)
	if len(rt.root.Matchers) > 0 {
		ps.Addf("route.matchers", "the root route matches every alert; put matchers on its routes")
	}
	for i, ic := range c.InhibitRules {
		p := fmt.Sprintf("inhibit_rules[%d]", i)
		src, err := ParseMatchers(ic.SourceMatchers)
		if err != nil {
			ps.Addf(p+".source_matchers", "%v", err)
		}
		tgt, err := ParseMatchers(ic.TargetMatchers)
		if err != nil {
			ps.Addf(p+".target_matchers", "%v", err)
		}
		if len(src) == 0 || len(tgt) == 0 {
			ps.Addf(p, "needs source_matchers and target_matchers")
		}
		for _, l := range ic.Equal {
			if !isKnownLabel(l) {
				ps.Addf(p+".equal", "unknown label %q", l)
			}
		}
		rt.inhibit = append(rt.inhibit, &inhibitRule{name: ic.Name, source: src, target: tgt, equal: ic.Equal})
	}
	for i, sc := range c.Silences {
		p := fmt.Sprintf("silences[%d]", i)
		ms, err := ParseMatchers(sc.Matchers)
		if err != nil {
			ps.Addf(p+".matchers", "%v", err)
		}
		if len(ms) == 0 {
			ps.Addf(p+".matchers", "a silence needs at least one matcher")
		}
		if !sc.EndsAt.After(sc.StartsAt) {
			ps.Addf(p+".ends_at", "must be after starts_at")
		}
		id := sc.ID
		if id == "" {
			id = "config-" + strconv.Itoa(i)
		}
		by := sc.CreatedBy
		if by == "" {
			by = "routing.yaml"
		}
		rt.silences = append(rt.silences, &Silence{ID: id, Matchers: ms, StartsAt: sc.StartsAt, EndsAt: sc.EndsAt,
			CreatedBy: by, Comment: sc.Comment, FromConfig: true})
	}
	if tdir := c.path(c.Service.Templates); tdir != "" {
		t, err := notify.LoadTemplates(tdir, "zh", "en")
		if err != nil {
			ps.Addf("service.templates", "%v", err)
		}
		rt.templates = t
	} else {
		ps.Addf("service.templates", "must name the templates directory (configs/templates)")
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return rt, nil
}

func (rt *Routing) compileService(c *Config, ps *conf.Problems) {
	s := c.Service
	o := serviceOpts{publicURL: strings.TrimRight(s.PublicURL, "/"), resolvedRetention: s.ResolvedRetention.D(), tick: s.Tick.D(),
		maxBody: s.API.MaxBodyBytes, rate: s.API.RatePerSec, burst: s.API.Burst, publicFeeds: s.API.PublicFeeds,
		cap: notify.CAPOptions{Sender: s.CAPSender, SenderName: s.CAPSenderName, RadiusKm: s.CAPRadiusKm}}
	if o.publicURL == "" {
		o.publicURL = "http://127.0.0.1:8080"
	} else if u, err := url.Parse(o.publicURL); err != nil || u.Host == "" {
		ps.Addf("service.public_url", "%q is not an http(s) URL", s.PublicURL)
	}
	if o.cap.Sender == "" {
		o.cap.Sender = "qingliu@gz-qy"
	}
	if strings.ContainsAny(o.cap.Sender, " ,<&") {
		ps.Addf("service.cap_sender", "must not contain spaces, commas, < or &")
	}
	if o.cap.SenderName == "" {
		o.cap.SenderName = "清流 广清生态环境监测预警"
	}
	if o.resolvedRetention == 0 {
		o.resolvedRetention = 30 * 24 * time.Hour
	}
	if o.tick == 0 {
		o.tick = time.Second
	}
	if o.tick < 10*time.Millisecond || o.tick > time.Minute {
		ps.Addf("service.tick", "must be 10ms..1m")
	}
	if o.maxBody == 0 {
		o.maxBody = 64 << 10
	}
	if o.rate == 0 {
		o.rate = 10
	}
	if o.burst == 0 {
		o.burst = 40
	}
	if o.maxBody < 1024 || o.rate < 0 || o.burst < 1 {
		ps.Addf("service.api", "max_body_bytes >= 1024, rate_per_sec > 0 and burst >= 1")
	}
	rt.svc = o
}

func (rt *Routing) compileAgency(i int, ac AgencyConfig, ps *conf.Problems) {
	p := fmt.Sprintf("agencies[%d]", i)
	if !idRe.MatchString(ac.ID) {
		ps.Addf(p+".id", "%q: want [A-Za-z0-9_-]{1,64}", ac.ID)
	}
	if _, dup := rt.agencyBy[ac.ID]; dup {
		ps.Addf(p+".id", "duplicate agency %q", ac.ID)
	}
	if ac.Name == "" {
		ps.Addf(p+".name", "must be set (the agency's Chinese name)")
	}
	a := &Agency{ID: ac.ID, Name: ac.Name, NameEN: ac.NameEN, cities: ac.Jurisdiction.Cities, districts: ac.Jurisdiction.Districts,
		rivers: ac.Jurisdiction.Rivers, kinds: ac.Jurisdiction.StationKinds, classes: ac.Jurisdiction.Alerts}
	if len(a.classes) == 0 {
		a.classes = []string{"value", "joint"}
	}
	for j, cl := range a.classes {
		if !slices.Contains(alertClass, cl) {
			ps.Addf(fmt.Sprintf("%s.jurisdiction.alerts[%d]", p, j), "%q: want value, joint or technical", cl)
		}
	}
	for j, k := range a.kinds {
		if !slices.Contains([]string{registry.KindNational, registry.KindProvincial, registry.KindBoundary,
			registry.KindDrinkingSource, registry.KindMunicipal, registry.KindAirStation}, k) {
			ps.Addf(fmt.Sprintf("%s.jurisdiction.station_kinds[%d]", p, j), "unknown station kind %q", k)
		}
	}
	if ac.Token != "" {
		if len(ac.Token) < 16 {
			ps.Addf(p+".token", "must be at least 16 characters")
		}
		a.tokenHash, a.hasToken = sha256.Sum256([]byte(ac.Token)), true
	}
	if e := ac.Escalation; e != nil {
		if e.After.D() < time.Second {
			ps.Addf(p+".escalation.after", "must be at least 1s")
		}
		if e.MinLevel == domain.None {
			ps.Addf(p+".escalation.min_level", "must be a colour (blue … red)")
		}
		a.Escalation = &Escalation{MinLevel: e.MinLevel, After: e.After.D(), Chain: e.Chain}
	}
	rt.agencies = append(rt.agencies, a)
	rt.agencyBy[a.ID] = a
}

func (rt *Routing) compileReceiver(i int, rc ReceiverConfig, ps *conf.Problems, langs map[string]bool) {
	p := fmt.Sprintf("receivers[%d]", i)
	if !idRe.MatchString(rc.Name) {
		ps.Addf(p+".name", "%q: want [A-Za-z0-9_-]{1,64} (it names the outbox subject)", rc.Name)
	}
	if _, dup := rt.recvBy[rc.Name]; dup {
		ps.Addf(p+".name", "duplicate receiver %q", rc.Name)
	}
	if _, ok := rt.agencyBy[rc.Agency]; !ok {
		ps.Addf(p+".agency", "unknown agency %q", rc.Agency)
	}
	r := &Receiver{Name: rc.Name, Agency: rc.Agency, MinLevel: rc.MinLevel, SendResolved: rc.SendResolved == nil || *rc.SendResolved,
		Concurrency: rc.Concurrency, RetryInitial: rc.Retry.Initial.D(), RetryMax: rc.Retry.Max.D(), GiveUpAfter: rc.Retry.GiveUpAfter.D(), cfg: rc}
	if r.Concurrency == 0 {
		r.Concurrency = 4
	}
	if r.RetryInitial == 0 {
		r.RetryInitial = time.Second
	}
	if r.RetryMax == 0 {
		r.RetryMax = 5 * time.Minute
	}
	if r.GiveUpAfter == 0 {
		r.GiveUpAfter = 24 * time.Hour
	}
	if r.Concurrency < 1 || r.Concurrency > 64 {
		ps.Addf(p+".concurrency", "must be 1..64")
	}
	if r.RetryInitial > r.RetryMax {
		ps.Addf(p+".retry", "initial must not exceed max")
	}
	if q := rc.QuietHours; q != nil {
		qh, err := compileQuiet(q)
		if err != nil {
			ps.Addf(p+".quiet_hours", "%v", err)
		}
		r.Quiet = qh
	}
	n := 0
	if w := rc.Webhook; w != nil {
		n++
		r.Kind = "webhook"
		if u, err := url.Parse(w.URL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			ps.Addf(p+".webhook.url", "not an http(s) URL")
		}
		if len(w.Secret) < 16 {
			ps.Addf(p+".webhook.secret", "must be at least 16 characters (secret or secret_file)")
		}
	}
	if e := rc.Email; e != nil {
		n++
		r.Kind = "email"
		if _, _, err := net.SplitHostPort(e.SMTP); err != nil {
			ps.Addf(p+".email.smtp", "%q is not host:port", e.SMTP)
		}
		if !slices.Contains([]string{"", notify.TLSStartTLS, notify.TLSOpportunistic, notify.TLSNone, notify.TLSImplicit}, e.TLS) {
			ps.Addf(p+".email.tls", "%q: want starttls, opportunistic, tls or none", e.TLS)
		}
		if e.From == "" || len(e.To) == 0 {
			ps.Addf(p+".email", "needs from and to")
		}
		for _, l := range e.Langs {
			if !langs[l] {
				ps.Addf(p+".email.langs", "%q: want zh or en", l)
			}
		}
	}
	if s := rc.SMS; s != nil {
		n++
		r.Kind = "sms"
		if u, err := url.Parse(s.URL); err != nil || u.Host == "" {
			ps.Addf(p+".sms.url", "not an http(s) URL")
		}
		if s.Body == "" || len(s.Numbers) == 0 {
			ps.Addf(p+".sms", "needs body and numbers")
		}
		if s.Lang != "" && !langs[s.Lang] {
			ps.Addf(p+".sms.lang", "%q: want zh or en", s.Lang)
		}
		if s.Charset != "" && !slices.Contains([]string{"utf-8", "gbk", "gb2312"}, strings.ToLower(s.Charset)) {
			ps.Addf(p+".sms.charset", "%q: want utf-8, gbk or gb2312", s.Charset)
		}
		if s.Success != "" {
			if _, err := regexp.Compile(s.Success); err != nil {
				ps.Addf(p+".sms.success", "%v", err)
			}
		}
	}
	if nc := rc.NATS; nc != nil {
		n++
		r.Kind = "nats"
		if nc.Subject == "" || strings.ContainsAny(nc.Subject, " *>") {
			ps.Addf(p+".nats.subject", "must be a subject without wildcards")
		}
	}
	if n != 1 {
		ps.Addf(p, "needs exactly one of webhook, email, sms, nats")
	}
	rt.receivers = append(rt.receivers, r)
	rt.recvBy[r.Name] = r
}

func compileQuiet(q *QuietHours) (*quietHours, error) {
	parse := func(s string) (int, bool) {
		g := hhmmRe.FindStringSubmatch(s)
		if g == nil {
			return 0, false
		}
		h, _ := strconv.Atoi(g[1])
		m, _ := strconv.Atoi(g[2])
		return h*60 + m, true
	}
	from, ok1 := parse(q.From)
	to, ok2 := parse(q.To)
	if !ok1 || !ok2 || from == to {
		return nil, fmt.Errorf("from and to must be different HH:MM times")
	}
	loc := chinaTime
	if q.Timezone != "" && q.Timezone != "Asia/Shanghai" {
		l, err := time.LoadLocation(q.Timezone)
		if err != nil {
			return nil, fmt.Errorf("timezone %q: %w", q.Timezone, err)
		}
		loc = l
	}
	return &quietHours{from: from, to: to, loc: loc}, nil
}

func (rt *Routing) compileRoute(path, id string, rc RouteConfig, parent *Route, ps *conf.Problems) *Route {
	r := &Route{ID: id, Continue: rc.Continue, GroupBy: parent.GroupBy, GroupWait: parent.GroupWait,
		RepeatInterval: parent.RepeatInterval, Receivers: rc.Receivers}
	ms, err := ParseMatchers(rc.Matchers)
	if err != nil {
		ps.Addf(path+".matchers", "%v", err)
	}
	r.Matchers = ms
	if rc.GroupBy != nil {
		r.GroupBy = rc.GroupBy
	}
	for _, l := range r.GroupBy {
		if !isKnownLabel(l) {
			ps.Addf(path+".group_by", "unknown label %q", l)
		}
	}
	if rc.GroupWait != nil {
		r.GroupWait = rc.GroupWait.D()
	}
	if rc.RepeatInterval != nil {
		r.RepeatInterval = rc.RepeatInterval.D()
	}
	if r.GroupWait < 0 || r.RepeatInterval < 0 {
		ps.Addf(path, "group_wait and repeat_interval must not be negative")
	}
	if len(r.Receivers) == 0 {
		r.Receivers = parent.Receivers
	}
	for j, name := range rc.Receivers {
		if _, ok := rt.recvBy[name]; !ok {
			ps.Addf(fmt.Sprintf("%s.receivers[%d]", path, j), "unknown receiver %q", name)
		}
	}
	rt.routeBy[id] = r
	for j, child := range rc.Routes {
		r.Children = append(r.Children, rt.compileRoute(fmt.Sprintf("%s.routes[%d]", path, j), fmt.Sprintf("%s.%d", id, j), child, r, ps))
	}
	return r
}

// Match returns the routes an alert with labels l takes (Alertmanager tree
// semantics).
func (r *Route) Match(l Labels) []*Route {
	if !r.Matchers.Matches(l) {
		return nil
	}
	var out []*Route
	for _, c := range r.Children {
		m := c.Match(l)
		out = append(out, m...)
		if len(m) > 0 && !c.Continue {
			break
		}
	}
	if len(out) == 0 {
		out = []*Route{r}
	}
	return out
}

// covers reports whether the agency's jurisdiction covers an alert.
func (a *Agency) covers(l Labels) bool {
	class := "value"
	switch {
	case l.One("technical") == "true":
		class = "technical"
	case l.One("joint") == "true":
		class = "joint"
	}
	if !slices.Contains(a.classes, class) {
		return false
	}
	return a.coversStation(l)
}

// coversStation reports whether the station of l is in the jurisdiction
// (cities by the alert's jurisdictions, district, river, station kind).
func (a *Agency) coversStation(l Labels) bool {
	anyIn := func(allowed, vals []string) bool {
		if len(allowed) == 0 {
			return true
		}
		for _, v := range vals {
			if slices.Contains(allowed, v) {
				return true
			}
		}
		return false
	}
	cities := l["jurisdiction"]
	if len(cities) == 0 {
		cities = l.Get("city")
	}
	return anyIn(a.cities, cities) && anyIn(a.districts, l.Get("district")) && anyIn(a.rivers, l.Get("river")) &&
		anyIn(a.kinds, l.Get("station_kind"))
}

// Agencies lists the compiled agencies in file order.
func (rt *Routing) Agencies() []*Agency { return slices.Clone(rt.agencies) }

// Receivers lists the compiled receivers in file order.
func (rt *Routing) Receivers() []*Receiver { return slices.Clone(rt.receivers) }

func mustRegexp(s string) *regexp.Regexp { return regexp.MustCompile(s) } // validated by Compile
