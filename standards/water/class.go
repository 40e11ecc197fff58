package water

import (
	"fmt"
	"strings"
)

// Class is a GB 3838-2002 surface-water class. The zero value means no class
// (nothing was evaluated); I is the best and WorseV (劣V) the worst, so
// comparisons such as c > target read like the requirement.
type Class uint8

// The GB 3838 classes in ascending order of pollution.
const (
	None   Class = iota // no class: nothing evaluated
	I                   // Ⅰ类
	II                  // Ⅱ类
	III                 // Ⅲ类
	IV                  // Ⅳ类
	V                   // Ⅴ类
	WorseV              // 劣Ⅴ类: fails the class V limit
)

// NumClasses is the number of classes with limits in GB 3838 (I–V).
const NumClasses = 5

var classNames = [...]string{None: "", I: "I", II: "II", III: "III", IV: "IV", V: "V", WorseV: "劣V"}

// Valid reports whether c is I, II, III, IV, V or 劣V.
func (c Class) Valid() bool { return c >= I && c <= WorseV }

// String returns I, II, III, IV, V or 劣V, and "" for None.
func (c Class) String() string {
	if int(c) >= len(classNames) {
		return fmt.Sprintf("Class(%d)", uint8(c))
	}
	return classNames[c]
}

// MarshalText encodes the class as I … V or 劣V; None encodes as "".
func (c Class) MarshalText() ([]byte, error) {
	if c != None && !c.Valid() {
		return nil, fmt.Errorf("marshal water class: invalid value %d", uint8(c))
	}
	return []byte(classNames[c]), nil
}

// UnmarshalText accepts every spelling ParseClass does; "" decodes as None.
func (c *Class) UnmarshalText(b []byte) error {
	if len(strings.TrimSpace(string(b))) == 0 {
		*c = None
		return nil
	}
	v, err := ParseClass(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

var romanUnicode = strings.NewReplacer("Ⅰ", "I", "Ⅱ", "II", "Ⅲ", "III", "Ⅳ", "IV", "Ⅴ", "V")

// ParseClass parses a class written as ASCII Roman numerals (III, iii), the
// Unicode Roman numerals (Ⅲ), a digit (3), optionally followed by 类 or
// preceded by "class"; 劣V, 劣Ⅴ, 劣5, 劣V类 and worse_than_v mean WorseV.
func ParseClass(s string) (Class, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(t, "类")
	t = romanUnicode.Replace(t)
	t = strings.ToUpper(strings.TrimSpace(t))
	t = strings.TrimSpace(strings.TrimPrefix(t, "CLASS"))
	worse := false
	switch {
	case strings.HasPrefix(t, "劣"):
		worse, t = true, strings.TrimPrefix(t, "劣")
	case t == "WORSE_THAN_V" || t == "WORSE THAN V":
		return WorseV, nil
	}
	var c Class
	switch t {
	case "I", "1":
		c = I
	case "II", "2":
		c = II
	case "III", "3":
		c = III
	case "IV", "4":
		c = IV
	case "V", "5":
		c = V
	}
	switch {
	case worse && c == V:
		return WorseV, nil
	case !worse && c != None:
		return c, nil
	}
	return None, fmt.Errorf("parse water class %q: want I, II, III, IV, V or 劣V", s)
}
