package domain

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func TestLevelOrder(t *testing.T) {
	ls := Levels()
	want := []Level{None, Blue, Yellow, Orange, Red}
	if len(ls) != len(want) {
		t.Fatalf("Levels() = %v", ls)
	}
	for i := range ls {
		if ls[i] != want[i] {
			t.Errorf("Levels()[%d] = %s, want %s", i, ls[i], want[i])
		}
		if i > 0 && !(ls[i] > ls[i-1]) {
			t.Errorf("%s is not above %s", ls[i], ls[i-1])
		}
	}
	var zero Level
	if zero != None {
		t.Errorf("zero Level = %s, want none", zero)
	}
}

func TestLevelNames(t *testing.T) {
	tests := []struct {
		l                           Level
		name, roman, zh, grade, cap string
	}{
		{None, "none", "0", "无", "", ""},
		{Blue, "blue", "IV", "蓝色预警", "一般", "Minor"},
		{Yellow, "yellow", "III", "黄色预警", "较重", "Moderate"},
		{Orange, "orange", "II", "橙色预警", "严重", "Severe"},
		{Red, "red", "I", "红色预警", "特别严重", "Extreme"},
	}
	hex := regexp.MustCompile(`^#[0-9a-f]{6}$`)
	for _, tt := range tests {
		if tt.l.String() != tt.name || tt.l.Roman() != tt.roman || tt.l.Chinese() != tt.zh ||
			tt.l.ChineseGrade() != tt.grade || tt.l.CAPSeverity() != tt.cap {
			t.Errorf("%d: got %q %q %q %q %q, want %q %q %q %q %q", tt.l, tt.l.String(), tt.l.Roman(), tt.l.Chinese(),
				tt.l.ChineseGrade(), tt.l.CAPSeverity(), tt.name, tt.roman, tt.zh, tt.grade, tt.cap)
		}
		if !hex.MatchString(tt.l.Color()) {
			t.Errorf("%s colour %q is not #rrggbb", tt.l, tt.l.Color())
		}
	}
}

// TestLevelRoundTrip: every level survives text, JSON value, JSON map key and
// each of its spellings.
func TestLevelRoundTrip(t *testing.T) {
	for _, l := range Levels() {
		b, err := l.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Level
		if err := back.UnmarshalText(b); err != nil || back != l {
			t.Errorf("text round trip %s: %q → %s, %v", l, b, back, err)
		}

		type doc struct {
			Level Level         `json:"level"`
			By    map[Level]int `json:"by"`
			List  []Level       `json:"list"`
			Ptr   *Level        `json:"ptr"`
		}
		in := doc{Level: l, By: map[Level]int{l: 1}, List: []Level{l, None}, Ptr: &l}
		js, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var out doc
		if err := json.Unmarshal(js, &out); err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		if out.Level != l || out.By[l] != 1 || len(out.List) != 2 || out.List[0] != l || out.Ptr == nil || *out.Ptr != l {
			t.Errorf("JSON round trip %s: %s → %+v", l, js, out)
		}

		for _, s := range append([]string{l.String(), l.Roman(), l.Chinese(), l.ChineseGrade()}, spellings[l]...) {
			if s == "" {
				continue
			}
			if got, err := ParseLevel(s); err != nil || got != l {
				t.Errorf("ParseLevel(%q) = %s, %v; want %s", s, got, err, l)
			}
			if err := back.UnmarshalText([]byte(s)); err != nil || back != l {
				t.Errorf("UnmarshalText(%q) = %s, %v; want %s", s, back, err, l)
			}
			js, _ := json.Marshal(s)
			if err := json.Unmarshal(js, &back); err != nil || back != l {
				t.Errorf("json.Unmarshal(%s) = %s, %v; want %s", js, back, err, l)
			}
		}
	}
}

// spellings lists every documented spelling of each level (ParseLevel's doc
// comment), as a duty officer may type or paste it.
var spellings = map[Level][]string{
	None:   {"none", "NONE", "None", "0", "无"},
	Blue:   {"blue", "Blue", " blue ", "IV", "iv", "Ⅳ", "ⅳ", "IV级", "Ⅳ级", "Ⅳ 级", "蓝色预警", "蓝色", "蓝", "一般"},
	Yellow: {"yellow", "YELLOW", "III", "iii", "Ⅲ", "III级", "Ⅲ级", "黄色预警", "黄色", "黄", "较重"},
	Orange: {"orange", "Orange", "II", "ii", "Ⅱ", "II级", "Ⅱ级", "橙色预警", "橙色", "橙", "严重"},
	Red:    {"red", "RED", "I", "i", "Ⅰ", "I级", "Ⅰ级", "红色预警", "红色", "红", "特别严重", "\tred\n"},
}

func TestParseLevelSpellings(t *testing.T) {
	tests := []struct {
		in   string
		want Level
	}{
		{"none", None}, {"NONE", None}, {"0", None}, {"无", None},
		{"blue", Blue}, {" Blue ", Blue}, {"IV", Blue}, {"iv", Blue}, {"蓝色预警", Blue}, {"蓝色", Blue}, {"蓝", Blue},
		{"yellow", Yellow}, {"III", Yellow}, {"黄色", Yellow}, {"黄", Yellow},
		{"orange", Orange}, {"II", Orange}, {"橙色预警", Orange}, {"橙", Orange},
		{"red", Red}, {"RED", Red}, {"I", Red}, {"红色", Red}, {"红", Red},
	}
	for _, tt := range tests {
		if got, err := ParseLevel(tt.in); err != nil || got != tt.want {
			t.Errorf("ParseLevel(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", " ", "purple", "V", "Ⅴ", "IIII", "IIV", "5", "1", "0级", "级", "色", "预警", "蓝色色", "红色预警级", "特别", "blue级"} {
		got, err := ParseLevel(bad)
		if err == nil {
			t.Errorf("ParseLevel(%q) = %s, want an error", bad, got)
			continue
		}
		// The duty officer must see what was rejected.
		if want := fmt.Sprintf("%q", bad); !strings.Contains(err.Error(), want) {
			t.Errorf("ParseLevel(%q) error %q does not name the value", bad, err)
		}
	}
	var l Level
	if err := l.UnmarshalText([]byte("purple")); err == nil {
		t.Error("UnmarshalText(purple) succeeded")
	}
	if err := json.Unmarshal([]byte(`"purple"`), &l); err == nil {
		t.Error("json.Unmarshal(purple) succeeded")
	}
}

func TestLevelInvalid(t *testing.T) {
	bad := Level(9)
	if bad.Valid() || bad.String() != "Level(9)" || bad.Chinese() != "" || bad.CAPSeverity() != "" {
		t.Errorf("Level(9): valid %v, %q %q %q", bad.Valid(), bad.String(), bad.Chinese(), bad.CAPSeverity())
	}
	if _, err := bad.MarshalText(); err == nil {
		t.Error("Level(9).MarshalText succeeded")
	}
}

func TestRaise(t *testing.T) {
	tests := []struct {
		l    Level
		n    int
		want Level
	}{
		{None, 1, None}, {None, 4, None}, {Blue, 0, Blue}, {Blue, 1, Yellow}, {Yellow, 1, Orange},
		{Orange, 1, Red}, {Red, 1, Red}, {Blue, 9, Red}, {Red, -1, Orange}, {Yellow, -5, Blue},
	}
	for _, tt := range tests {
		if got := tt.l.Raise(tt.n); got != tt.want {
			t.Errorf("%s.Raise(%d) = %s, want %s", tt.l, tt.n, got, tt.want)
		}
	}
}
