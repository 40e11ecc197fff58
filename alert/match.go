package alert

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/qingliu/qingliu/domain"
)

// Labels are the attributes routing, inhibition and silences match on. Most
// have one value; agency and jurisdiction may have several. A missing label
// matches as the empty string.
type Labels map[string][]string

// knownLabels are the labels an alert carries.
var knownLabels = []string{"alert_id", "rule", "kind", "station", "parameter", "level", "status", "technical",
	"joint", "city", "district", "river", "basin", "station_kind", "medium", "event", "jurisdiction", "agency"}

func isKnownLabel(l string) bool { return slices.Contains(knownLabels, l) }

// Get returns the values of name, [""] when missing.
func (l Labels) Get(name string) []string {
	if v := l[name]; len(v) > 0 {
		return v
	}
	return []string{""}
}

// One returns the first value of name.
func (l Labels) One(name string) string { return l.Get(name)[0] }

// Op is a matcher operator.
type Op string

// The operators. The ordered ones compare levels (level>=orange).
const (
	OpEq    Op = "="
	OpNe    Op = "!="
	OpRe    Op = "=~"
	OpNotRe Op = "!~"
	OpGe    Op = ">="
	OpGt    Op = ">"
	OpLe    Op = "<="
	OpLt    Op = "<"
)

// Matcher is one label condition, written like level>=orange,
// agency="gz", station=~"bj-.*".
type Matcher struct {
	Name  string `json:"name"`
	Op    Op     `json:"op"`
	Value string `json:"value"`
	re    *regexp.Regexp
	level domain.Level
}

var matcherRe = regexp.MustCompile(`^\s*([a-z_]+)\s*(=~|!~|!=|>=|<=|=|>|<)\s*(.*?)\s*$`)

// ParseMatcher parses one matcher.
func ParseMatcher(s string) (*Matcher, error) {
	g := matcherRe.FindStringSubmatch(s)
	if g == nil {
		return nil, fmt.Errorf("matcher %q: want label op value, e.g. level>=orange or station=~\"bj-.*\"", s)
	}
	m := &Matcher{Name: g[1], Op: Op(g[2]), Value: unquote(g[3])}
	return m, m.compile()
}

func (m *Matcher) compile() error {
	if !isKnownLabel(m.Name) {
		return fmt.Errorf("matcher: unknown label %q (known: %s)", m.Name, strings.Join(knownLabels, ", "))
	}
	switch m.Op {
	case OpEq, OpNe:
	case OpRe, OpNotRe:
		re, err := regexp.Compile("^(?:" + m.Value + ")$")
		if err != nil {
			return fmt.Errorf("matcher %s%s%q: %w", m.Name, m.Op, m.Value, err)
		}
		m.re = re
	case OpGe, OpGt, OpLe, OpLt:
		if m.Name != "level" {
			return fmt.Errorf("matcher: %s compares only levels", m.Op)
		}
		l, err := domain.ParseLevel(m.Value)
		if err != nil {
			return fmt.Errorf("matcher: %w", err)
		}
		m.level = l
	default:
		return fmt.Errorf("matcher: unknown operator %q", m.Op)
	}
	if m.Name == "level" && (m.Op == OpEq || m.Op == OpNe) {
		l, err := domain.ParseLevel(m.Value)
		if err != nil {
			return fmt.Errorf("matcher: %w", err)
		}
		m.level, m.Value = l, l.String()
	}
	return nil
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	return s
}

// String writes the matcher back.
func (m *Matcher) String() string { return fmt.Sprintf("%s%s%q", m.Name, m.Op, m.Value) }

// Matches tests the labels: positive operators hold when any value
// satisfies them, != and !~ when no value is excluded.
func (m *Matcher) Matches(l Labels) bool {
	vals := l.Get(m.Name)
	switch m.Op {
	case OpNe:
		return !slices.Contains(vals, m.Value)
	case OpNotRe:
		return !slices.ContainsFunc(vals, m.re.MatchString)
	}
	for _, v := range vals {
		if m.match1(v) {
			return true
		}
	}
	return false
}

func (m *Matcher) match1(v string) bool {
	switch m.Op {
	case OpEq:
		return v == m.Value
	case OpRe:
		return m.re.MatchString(v)
	}
	lv, err := domain.ParseLevel(v)
	if err != nil {
		return false
	}
	switch m.Op {
	case OpGe:
		return lv >= m.level
	case OpGt:
		return lv > m.level
	case OpLe:
		return lv <= m.level
	case OpLt:
		return lv < m.level
	}
	return false
}

// Matchers all have to match.
type Matchers []*Matcher

// Matches reports whether every matcher matches.
func (ms Matchers) Matches(l Labels) bool {
	for _, m := range ms {
		if !m.Matches(l) {
			return false
		}
	}
	return true
}

// ParseMatchers parses a list.
func ParseMatchers(ss []string) (Matchers, error) {
	out := make(Matchers, 0, len(ss))
	for _, s := range ss {
		m, err := ParseMatcher(s)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Strings writes the matchers back.
func (ms Matchers) Strings() []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.String()
	}
	return out
}
