package domain

import (
	"fmt"
	"strings"
)

// Level is the unified warning level (统一预警分级) shared by Guangzhou and
// Qingyuan. The zero value is None; Red is the highest, so comparisons such as
// level >= Orange read like the requirement.
type Level uint8

// The levels in ascending severity. Their numeric values are part of the wire
// contract only through their text form.
const (
	None Level = iota
	Blue
	Yellow
	Orange
	Red
)

type levelInfo struct {
	name, roman, romanU, zh, zhGrade, cap, color string
}

// romanU is the grade in the Unicode Roman numerals (U+2160…) that Chinese
// plans and notices print (Ⅳ级预警); ASCII roman is what most people type.
var levels = [...]levelInfo{
	None:   {"none", "0", "", "无", "", "", "#00e400"},
	Blue:   {"blue", "IV", "Ⅳ", "蓝色预警", "一般", "Minor", "#1e6fff"},
	Yellow: {"yellow", "III", "Ⅲ", "黄色预警", "较重", "Moderate", "#ffd400"},
	Orange: {"orange", "II", "Ⅱ", "橙色预警", "严重", "Severe", "#ff7e00"},
	Red:    {"red", "I", "Ⅰ", "红色预警", "特别严重", "Extreme", "#ff0000"},
}

// Levels lists every level in ascending order.
func Levels() []Level { return []Level{None, Blue, Yellow, Orange, Red} }

// Valid reports whether l is one of the defined levels.
func (l Level) Valid() bool { return int(l) < len(levels) }

// String returns the English name (none, blue, yellow, orange, red).
func (l Level) String() string {
	if !l.Valid() {
		return fmt.Sprintf("Level(%d)", uint8(l))
	}
	return levels[l].name
}

// Roman returns the grade in Roman numerals as used in Chinese plans (I is red).
func (l Level) Roman() string { return l.info().roman }

// Chinese returns the Chinese name, e.g. 橙色预警.
func (l Level) Chinese() string { return l.info().zh }

// ChineseGrade returns the severity word, e.g. 严重 for orange.
func (l Level) ChineseGrade() string { return l.info().zhGrade }

// CAPSeverity returns the CAP 1.2 severity (Minor, Moderate, Severe, Extreme);
// it is empty for None.
func (l Level) CAPSeverity() string { return l.info().cap }

// Color returns a display colour as #rrggbb.
func (l Level) Color() string { return l.info().color }

func (l Level) info() levelInfo {
	if !l.Valid() {
		return levelInfo{}
	}
	return levels[l]
}

// Raise returns the level n steps higher, capped at Red. Raising None gives None.
func (l Level) Raise(n int) Level {
	if l == None {
		return None
	}
	r := int(l) + n
	switch {
	case r > int(Red):
		return Red
	case r < int(Blue):
		return Blue
	}
	return Level(r)
}

// MarshalText encodes the English name.
func (l Level) MarshalText() ([]byte, error) {
	if !l.Valid() {
		return nil, fmt.Errorf("marshal level: invalid value %d", uint8(l))
	}
	return []byte(levels[l].name), nil
}

// UnmarshalText accepts every spelling ParseLevel does.
func (l *Level) UnmarshalText(b []byte) error {
	v, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// ParseLevel parses any of the accepted spellings of a level, surrounding
// space ignored: the English name (blue, case-insensitive); the grade in
// ASCII or Unicode Roman numerals, optionally followed by 级 (IV, iv, Ⅳ,
// Ⅳ级; 0 for none); the Chinese name, colour or colour word (蓝色预警, 蓝色,
// 蓝; 无 for none); the severity word (一般, 较重, 严重, 特别严重).
func ParseLevel(s string) (Level, error) {
	t := strings.TrimSpace(s)
	graded := strings.TrimSpace(strings.TrimSuffix(t, "级"))
	for i, in := range levels {
		zhColor := strings.TrimSuffix(in.zh, "预警")
		if strings.EqualFold(t, in.name) || strings.EqualFold(t, in.roman) ||
			t == in.zh || (zhColor != "" && (t == zhColor || t == strings.TrimSuffix(zhColor, "色"))) ||
			(in.romanU != "" && (strings.EqualFold(graded, in.roman) || strings.EqualFold(graded, in.romanU))) ||
			(in.zhGrade != "" && t == in.zhGrade) {
			return Level(i), nil
		}
	}
	return None, fmt.Errorf("parse level %q: want one of none, blue, yellow, orange, red", s)
}
