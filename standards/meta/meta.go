// Package meta holds what every standards table file shares: the versioning
// header (kind, standard, version, effective_from) and its validation.
package meta

import (
	"strings"
	"time"

	"github.com/qingliu/qingliu/internal/conf"
)

// Header is the block every table file under configs/standards starts with. It
// is embedded inline in each table's file type.
type Header struct {
	Kind          string `yaml:"kind"`
	Standard      string `yaml:"standard"`
	Version       string `yaml:"version"`
	EffectiveFrom string `yaml:"effective_from"`
}

// Info is a validated Header.
type Info struct {
	Kind          string
	Standard      string // e.g. "GB 3838-2002"
	Version       string // e.g. "2002"
	EffectiveFrom time.Time
}

// Check validates h, records every problem in ps and returns what it could
// parse. kind is the kind the caller expects.
func (h Header) Check(ps *conf.Problems, kind string) Info {
	info := Info{Kind: h.Kind, Standard: strings.TrimSpace(h.Standard), Version: strings.TrimSpace(h.Version)}
	if h.Kind != kind {
		ps.Addf("kind", "is %q, want %q", h.Kind, kind)
	}
	if info.Standard == "" {
		ps.Addf("standard", "missing")
	}
	if info.Version == "" {
		ps.Addf("version", "missing")
	}
	info.EffectiveFrom = EffectiveFrom(ps, "effective_from", h.EffectiveFrom)
	return info
}

// EffectiveFrom parses an RFC 3339 time that must carry an explicit offset
// (the standards are dated in Asia/Shanghai, +08:00), recording a problem at
// path when it does not.
func EffectiveFrom(ps *conf.Problems, path, s string) time.Time {
	if s == "" {
		ps.Addf(path, "missing (want RFC 3339 with offset, e.g. 2026-03-01T00:00:00+08:00)")
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		ps.Addf(path, "%q is not RFC 3339 (want e.g. 2026-03-01T00:00:00+08:00)", s)
		return time.Time{}
	}
	if strings.HasSuffix(s, "Z") || strings.HasSuffix(s, "z") {
		ps.Addf(path, "%q: give the local offset (+08:00), not Z", s)
	}
	return t
}
