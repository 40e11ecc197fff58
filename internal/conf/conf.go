// Package conf holds what every configuration loader in Qingliu shares: strict
// YAML decoding (unknown keys are errors) and a list of problems that each name
// the file, the path inside it and what is wrong.
package conf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong in a configuration file.
type Problem struct {
	File string // file name as given to the loader
	Path string // dotted path inside the file, e.g. stations[3].river, or "line 12"
	Msg  string // what is wrong, lower case, no trailing period
}

func (p Problem) String() string {
	switch {
	case p.Path == "":
		return fmt.Sprintf("%s: %s", p.File, p.Msg)
	default:
		return fmt.Sprintf("%s: %s: %s", p.File, p.Path, p.Msg)
	}
}

// Problems collects every problem found while validating, so that a user fixes
// them all in one round instead of one per run.
type Problems struct {
	File string
	List []Problem
}

// Addf records a problem at path in p.File.
func (p *Problems) Addf(path, format string, args ...any) {
	p.List = append(p.List, Problem{File: p.File, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Merge appends the problems of an error returned by another loader; any other
// error becomes a problem without a path.
func (p *Problems) Merge(err error) {
	if err == nil {
		return
	}
	var e *Error
	if errors.As(err, &e) {
		p.List = append(p.List, e.Problems...)
		return
	}
	p.List = append(p.List, Problem{File: p.File, Msg: err.Error()})
}

// Err returns nil when there are no problems, else an *Error listing them.
func (p *Problems) Err() error {
	if len(p.List) == 0 {
		return nil
	}
	return &Error{Problems: append([]Problem(nil), p.List...)}
}

// Error is a validation failure with every problem found.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

var (
	reUnknown = regexp.MustCompile(`^line (\d+): field (\S+) not found in type \S+$`)
	reLine    = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
)

// DecodeStrict decodes YAML data into v, rejecting unknown keys. Its errors are
// *Error values naming file and line.
func DecodeStrict(file string, data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(v)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	ps := Problems{File: file}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, m := range te.Errors {
			if g := reUnknown.FindStringSubmatch(m); g != nil {
				ps.Addf("line "+g[1], "unknown key %s", g[2])
				continue
			}
			if g := reLine.FindStringSubmatch(m); g != nil {
				ps.Addf("line "+g[1], "%s", g[2])
				continue
			}
			ps.Addf("", "%s", m)
		}
		return ps.Err()
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if g := reLine.FindStringSubmatch(msg); g != nil {
		ps.Addf("line "+g[1], "%s", g[2])
	} else {
		ps.Addf("", "%s", msg)
	}
	return ps.Err()
}

// LoadStrict reads file and decodes it with DecodeStrict.
func LoadStrict(file string, v any) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return &Error{Problems: []Problem{{File: file, Msg: "cannot read: " + unwrapPathError(err)}}}
	}
	return DecodeStrict(file, data, v)
}

func unwrapPathError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// ExpandEnv replaces ${NAME} and ${NAME:-default} outside comment lines; an
// unset NAME without a default is a problem, never silently empty.
func ExpandEnv(s string, ps *Problems) string {
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		lines[i] = envRef.ReplaceAllStringFunc(line, func(m string) string {
			g := envRef.FindStringSubmatch(m)
			if v, ok := os.LookupEnv(g[1]); ok {
				return v
			}
			if g[2] != "" {
				return g[3]
			}
			ps.Addf(fmt.Sprintf("line %d", i+1), "environment variable %s is not set", g[1])
			return ""
		})
	}
	return strings.Join(lines, "\n")
}

// Duration is a time.Duration written in Go syntax in YAML: 500ms, 30s,
// 15m, 168h (no days: use h).
type Duration time.Duration

// UnmarshalText parses Go duration syntax.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like 500ms, 30s, 15m, 168h", string(b))
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes Go duration syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
