package hj212

import (
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Flag bits of the data segment's Flag field (HJ 212-2017 Table 3:
// V5 V4 V3 V2 V1 V0 D A, most significant bit first).
const (
	FlagAck   = 1 << 0 // A: the command needs an acknowledgement
	FlagSplit = 1 << 1 // D: the packet is one part of a split transfer (PNUM/PNO)
)

// Protocol versions carried in the V bits of Flag.
const (
	Version2005 = 0 // HJ/T 212-2005 (also what a packet without Flag is taken to be)
	Version2017 = 1 // HJ 212-2017
)

// Packet is one decoded data segment. Strings share one copy of the frame, so
// a Packet never aliases the buffer it was parsed from.
//
// PW is a secret: String, GoString and LogValue leave it out. Raw holds the
// frame as received and so contains PW too; never log it.
type Packet struct {
	QN string // request id YYYYMMDDhhmmsszzz; empty in HJ/T 212-2005 style packets
	ST string // system code (21 surface water, 22 air quality, 91 interaction …)
	CN string // command code (2011, 2051, 9014 …)
	PW string // access password
	MN string // device id
	// Flag is the flag byte; HasFlag is false when the packet had no Flag
	// field (HJ/T 212-2005 style).
	Flag    int
	HasFlag bool
	// PNUM and PNO are the part count and part number of a split transfer;
	// both are 0 when the packet is not split.
	PNUM, PNO int
	// DataTime is CP's DataTime in UTC+8: the sampling instant for 2011 and
	// the start of the period for 2051, 2061 and 2031. Zero when absent.
	DataTime time.Time
	// CP holds the other CP fields and the per-pollutant values.
	CP CP
	// Raw is the frame the packet was parsed from, without its trailing
	// CR LF; empty for packets built in code or reassembled from parts.
	Raw string
}

// AckRequested reports whether the sender set the A bit of Flag.
func (p Packet) AckRequested() bool { return p.HasFlag && p.Flag&FlagAck != 0 }

// Version returns the V5…V0 bits of Flag: Version2017 for HJ 212-2017, 0 for
// HJ/T 212-2005 or a packet without Flag. Devices in the field also send 2
// (Flag=8, 9), which HJ 212-2017 does not define.
func (p Packet) Version() int {
	if !p.HasFlag {
		return Version2005
	}
	return p.Flag >> 2
}

// Split reports whether the packet is one part of a split transfer (it
// carries PNUM and PNO, whether or not its Flag has the D bit).
func (p Packet) Split() bool { return p.PNUM > 0 }

// String returns the header of p and the number of CP values, with PW
// redacted.
func (p Packet) String() string {
	var b strings.Builder
	if p.QN != "" {
		b.WriteString("QN=" + p.QN + ";")
	}
	b.WriteString("ST=" + p.ST + ";CN=" + p.CN + ";PW=***;MN=" + p.MN)
	if p.HasFlag {
		b.WriteString(";Flag=" + strconv.Itoa(p.Flag))
	}
	if p.Split() {
		b.WriteString(";PNUM=" + strconv.Itoa(p.PNUM) + ";PNO=" + strconv.Itoa(p.PNO))
	}
	b.WriteString(";CP=(" + strconv.Itoa(len(p.CP.Fields)) + " fields, " + strconv.Itoa(len(p.CP.Values)) + " values)")
	return b.String()
}

// GoString is String, so that %#v does not print PW either.
func (p Packet) GoString() string { return "hj212.Packet{" + p.String() + "}" }

// LogValue implements slog.LogValuer without PW or Raw.
func (p Packet) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("qn", p.QN),
		slog.String("st", p.ST),
		slog.String("cn", p.CN),
		slog.String("mn", p.MN),
	}
	if p.HasFlag {
		attrs = append(attrs, slog.Int("flag", p.Flag))
	}
	if p.Split() {
		attrs = append(attrs, slog.Int("pnum", p.PNUM), slog.Int("pno", p.PNO))
	}
	attrs = append(attrs, slog.Int("values", len(p.CP.Values)))
	return slog.GroupValue(attrs...)
}

// CP is the command parameter area (CP=&&…&&).
type CP struct {
	// Fields are the plain fields other than DataTime, in order: RtdInterval,
	// QnRtn, ExeRtn, SystemTime, PolId, RestartTime … A name may repeat
	// (PolId in some commands).
	Fields []Field
	// Values are the per-pollutant fields (code-Rtd, code-Avg, code-Flag …),
	// one Value per code in order of first appearance.
	Values []Value
}

// Field returns the value of the first plain field called name.
func (c CP) Field(name string) (string, bool) {
	for _, f := range c.Fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return "", false
}

// Value returns the values of pollutant code.
func (c CP) Value(code string) (Value, bool) {
	if i := c.index(code); i >= 0 {
		return c.Values[i], true
	}
	return Value{}, false
}

func (c CP) index(code string) int {
	for i := len(c.Values) - 1; i >= 0; i-- {
		if c.Values[i].Code == code {
			return i
		}
	}
	return -1
}

// Field is one name=value pair.
type Field struct {
	Name, Value string
}

// Stat is one of the numeric statistics a pollutant code carries.
type Stat uint8

// The statistics of HJ 212-2017 Table 4.
const (
	Rtd Stat = iota // real-time value (2011)
	Avg             // average over the period (2051, 2061, 2031)
	Min             // minimum over the period
	Max             // maximum over the period
	Cou             // cumulative amount over the period (e.g. discharge)
	numStats
)

var statNames = [numStats]string{"Rtd", "Avg", "Min", "Max", "Cou"}

// String returns the suffix used on the wire: "Rtd", "Avg", "Min", "Max", "Cou".
func (s Stat) String() string {
	if s < numStats {
		return statNames[s]
	}
	return "Stat(" + strconv.Itoa(int(s)) + ")"
}

// Value is everything a packet says about one pollutant code.
type Value struct {
	Code string // w01001, a34004, 011 …
	// Flag is the data flag (code-Flag: N F M S D C T B); empty when absent.
	Flag string
	// EFlag is the vendor-defined equipment flag (code-EFlag); empty when absent.
	EFlag string
	// SampleTime is code-SampleTime in UTC+8; zero when absent.
	SampleTime time.Time
	// Extra holds the other code-Name fields (ZsRtd, ZsAvg, ValidNum, Info …)
	// with Name the part after the code and its dash.
	Extra []Field

	num [numStats]float64
	has uint8
}

// Get returns statistic s and whether the packet carried it.
func (v Value) Get(s Stat) (float64, bool) {
	if s >= numStats || v.has&(1<<s) == 0 {
		return 0, false
	}
	return v.num[s], true
}

// Set sets statistic s to x.
func (v *Value) Set(s Stat, x float64) {
	if s < numStats {
		v.num[s] = x
		v.has |= 1 << s
	}
}

// Has reports whether statistic s is present.
func (v Value) Has(s Stat) bool { return s < numStats && v.has&(1<<s) != 0 }

// Command codes (CN, HJ 212-2017 Table 9) this package gives meaning to.
const (
	CNSetTime     = "1012" // 设置现场机时间: host sets the datalogger clock (SystemTime)
	CNTimeRequest = "1013" // 现场机时间校准请求: datalogger asks for the time
	CNRealtime    = "2011" // 实时数据
	CNDaily       = "2031" // 日数据
	CNMinute      = "2051" // 分钟数据
	CNHourly      = "2061" // 小时数据
	CNRestart     = "2081" // 数采仪开机时间 (RestartTime)
	CNQnRtn       = "9011" // 请求应答 (QnRtn)
	CNExeRtn      = "9012" // 执行结果 (ExeRtn)
	CNNoticeAck   = "9013" // 通知应答
	CNDataAck     = "9014" // 数据应答
)

// STInteraction is the system code of replies (系统交互, Table 5).
const STInteraction = "91"
