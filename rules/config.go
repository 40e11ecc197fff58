package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/qingliu/qingliu/internal/conf"
	"github.com/qingliu/qingliu/registry"
	"github.com/qingliu/qingliu/standards"
)

// Config is the YAML shape of configs/rules.yaml. Compile validates it against
// the station registry and the standards and builds the immutable Set.
type Config struct {
	// Jurisdictions are the cities whose agencies own alerts (广州, 清远). A
	// station in another city (an upstream boundary section) belongs to the
	// first city downstream of it; a joint warning names all of them.
	Jurisdictions []string            `yaml:"jurisdictions"`
	Maintenance   []MaintenanceConfig `yaml:"maintenance"`
	Rules         []RuleConfig        `yaml:"rules"`
	Propagation   *PropagationConfig  `yaml:"propagation"`
}

// MaintenanceConfig is a maintenance window: readings of the station observed
// inside [from, to) are not evaluated, and the station is not reported silent.
type MaintenanceConfig struct {
	Station string `yaml:"station"`
	From    string `yaml:"from"` // RFC 3339
	To      string `yaml:"to"`   // RFC 3339
	Reason  string `yaml:"reason"`
}

// Selector chooses stations. Every non-empty field must match (a list
// matches when any of its entries does); an empty selector matches every
// station of the media the rule kind applies to.
type Selector struct {
	Stations []string          `yaml:"stations"`
	Exclude  []string          `yaml:"exclude"`
	Medium   string            `yaml:"medium"`
	Rivers   []string          `yaml:"rivers"`
	Kinds    []string          `yaml:"kinds"`
	Cities   []string          `yaml:"cities"`
	Labels   map[string]string `yaml:"labels"`
}

// RuleConfig is one rule. Which fields apply depends on Kind; a field set for
// a kind that does not use it is an error.
type RuleConfig struct {
	Name        string   `yaml:"name"`
	Kind        string   `yaml:"kind"`
	Description string   `yaml:"description"`
	Select      Selector `yaml:"select"`

	// Parameter is the one parameter of a threshold or rate rule.
	Parameter string `yaml:"parameter"`
	// Parameters restricts deadman (scope parameter) and stuck rules; empty
	// means every parameter the station reports.
	Parameters []string `yaml:"parameters"`

	// Window: threshold and water-class, "latest" (the default) or a
	// duration for the mean over that window; rate, the span over which the
	// change is measured.
	Window string `yaml:"window"`
	// MinSamples is the fewest valid values a mean window needs (default 1).
	MinSamples int `yaml:"min_samples"`
	// MaxAge (water-class latest): the oldest value an item may have to
	// count; default twice the item's reporting interval.
	MaxAge string `yaml:"max_age"`

	// Direction: threshold above, below or outside; rate rise, fall or either.
	Direction string `yaml:"direction"`
	// Levels maps a level (blue … red) to its trigger threshold: a number, or
	// [lo, hi] for outside.
	Levels map[string]Bound `yaml:"levels"`
	// Clear maps a level to the threshold the value must cross back over to
	// leave that level (hysteresis); default the trigger threshold.
	Clear map[string]Bound `yaml:"clear"`
	// Per is the rate's time unit (default 1h).
	Per string `yaml:"per"`

	// For: the condition must hold this long (a duration) or for this many
	// readings (a count) before the alert fires; ClearFor likewise before it
	// de-escalates or resolves.
	For      Hold `yaml:"for"`
	ClearFor Hold `yaml:"clear_for"`

	// DrinkingSourceRaise raises a threshold or rate level by this many
	// steps at drinking-water-source sections. Water-class rules take the
	// escalation from the severity mappings.
	DrinkingSourceRaise int `yaml:"drinking_source_raise"`

	// When is an optional expr-lang expression (compiled once) that must
	// also be true for the condition to hold. See Env for its variables.
	When string `yaml:"when"`

	// Factor (deadman): silent for longer than factor × the expected
	// interval (default 3). Scope: station (any reading counts) or
	// parameter (default station).
	Factor float64 `yaml:"factor"`
	Scope  string  `yaml:"scope"`

	// Count and Duration (stuck): identical values for Count readings, or
	// for longer than Duration. Tolerance is the largest difference still
	// counted as identical (default 0: bit-identical).
	Count     int     `yaml:"count"`
	Duration  string  `yaml:"duration"`
	Tolerance float64 `yaml:"tolerance"`

	// Limits (range): parameter → [min, max] of plausible values.
	Limits map[string][]float64 `yaml:"limits"`

	// Daily (aqi): also run the heavy-pollution persistence scheme on daily
	// AQI (default true).
	Daily *bool `yaml:"daily"`
	// PMHourlyMean (aqi): per HJ 633 version id, whether the hourly PM10 and
	// PM2.5 sub-indices use the 1h mean or the 24h sliding mean. Default:
	// HJ633-2012 24h (its §5.1.3), later versions 1h.
	PMHourlyMean map[string]string `yaml:"pm_hourly_mean"`
}

// PropagationConfig turns warnings at river sections into pre-warnings
// downstream and joint warnings (DESIGN §5).
type PropagationConfig struct {
	// Name is the rule name of the pre-warnings and joint warnings (default
	// river).
	Name string `yaml:"name"`
	// From lists the rules whose warnings propagate (threshold, rate or
	// water-class rules).
	From []string `yaml:"from"`
	// MinLevel is the lowest source level that propagates (default blue).
	MinLevel string `yaml:"min_level"`
	// LevelOffset: a pre-warning's level is the source level plus this
	// (e.g. -1 for one lower), never below blue.
	LevelOffset int `yaml:"level_offset"`
	// Horizon: only sections reached within this travel time are warned
	// (default 72h).
	Horizon string `yaml:"horizon"`
	// Hold keeps pre-warnings this long after the source resolved.
	Hold  string      `yaml:"hold"`
	Joint JointConfig `yaml:"joint"`
	// Confirm: a warning of the same parameter at a pre-warned section
	// before ETA + max(tolerance × travel time, min_tolerance) confirms the
	// event, and raises the level of its warnings by Raise steps.
	Confirm ConfirmConfig `yaml:"confirm"`
}

// JointConfig says what makes a warning joint. Each defaults to true.
type JointConfig struct {
	// CrossBorderRivers: an event on a river marked cross_border.
	CrossBorderRivers *bool `yaml:"cross_border_rivers"`
	// CityBorder: an event that reaches a section of another jurisdiction.
	CityBorder *bool `yaml:"city_border"`
	// Intake: an event that reaches a section feeding a drinking-water intake.
	Intake *bool `yaml:"intake"`
}

// ConfirmConfig is the downstream confirmation window.
type ConfirmConfig struct {
	Tolerance    *float64 `yaml:"tolerance"`     // fraction of the travel time (default 0.5)
	MinTolerance string   `yaml:"min_tolerance"` // default 2h
	Raise        int      `yaml:"raise"`
}

// Bound is a threshold: one number, or [lo, hi] for a band.
type Bound struct {
	Lo, Hi float64
	Band   bool
}

// UnmarshalYAML accepts a number or a two-element list.
func (b *Bound) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		var f float64
		if err := n.Decode(&f); err != nil {
			return fmt.Errorf("line %d: %q is not a number", n.Line, n.Value)
		}
		*b = Bound{Lo: f, Hi: f}
		return nil
	case yaml.SequenceNode:
		var fs []float64
		if err := n.Decode(&fs); err != nil || len(fs) != 2 {
			return fmt.Errorf("line %d: want [lo, hi]", n.Line)
		}
		*b = Bound{Lo: fs[0], Hi: fs[1], Band: true}
		return nil
	}
	return fmt.Errorf("line %d: want a number or [lo, hi]", n.Line)
}

// Hold is a duration (30m) or a number of readings (3, or "3 readings").
type Hold struct {
	D   time.Duration
	N   int
	Set bool
}

// UnmarshalYAML parses a duration or a count.
func (h *Hold) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 30m or a count such as 3", n.Line)
	}
	v, err := ParseHold(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*h = v
	return nil
}

// ParseHold parses "30m", "2h", "3" or "3 readings".
func ParseHold(s string) (Hold, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(t, "readings"), "reading"))
	if n, err := strconv.Atoi(t); err == nil {
		if n < 0 {
			return Hold{}, fmt.Errorf("%q: a count must not be negative", s)
		}
		return Hold{N: n, Set: true}, nil
	}
	d, err := time.ParseDuration(t)
	if err != nil || d < 0 {
		return Hold{}, fmt.Errorf("%q is neither a duration such as 30m nor a count such as 3", s)
	}
	return Hold{D: d, Set: true}, nil
}

// Load reads, validates and compiles a rules file against the registry and
// the standards. Unknown keys are errors; the error is a *conf.Error listing
// every problem with file and path.
func Load(file string, reg *registry.Registry, std *standards.Set) (*Set, error) {
	var c Config
	if err := conf.LoadStrict(file, &c); err != nil {
		return nil, err
	}
	return c.Compile(file, reg, std)
}

// Parse is Load for YAML data; name is used in problems.
func Parse(name string, data []byte, reg *registry.Registry, std *standards.Set) (*Set, error) {
	var c Config
	if err := conf.DecodeStrict(name, data, &c); err != nil {
		return nil, err
	}
	return c.Compile(name, reg, std)
}
