package notify

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/qingliu/qingliu/domain"
)

// CAPNamespace is the XML namespace of CAP 1.2 (OASIS Common Alerting Protocol).
const CAPNamespace = "urn:oasis:names:tc:emergency:cap:1.2"

// CAP is a CAP 1.2 alert message.
type CAP struct {
	XMLName    xml.Name  `xml:"urn:oasis:names:tc:emergency:cap:1.2 alert"`
	Identifier string    `xml:"identifier"`
	Sender     string    `xml:"sender"`
	Sent       string    `xml:"sent"`
	Status     string    `xml:"status"`
	MsgType    string    `xml:"msgType"`
	Scope      string    `xml:"scope"`
	Code       []string  `xml:"code,omitempty"`
	Note       string    `xml:"note,omitempty"`
	References string    `xml:"references,omitempty"`
	Incidents  string    `xml:"incidents,omitempty"`
	Info       []CAPInfo `xml:"info"`
}

// CAPInfo is one <info> block (one per language).
type CAPInfo struct {
	Language    string     `xml:"language"`
	Category    []string   `xml:"category"`
	Event       string     `xml:"event"`
	ResponseTyp []string   `xml:"responseType,omitempty"`
	Urgency     string     `xml:"urgency"`
	Severity    string     `xml:"severity"`
	Certainty   string     `xml:"certainty"`
	EventCode   []CAPValue `xml:"eventCode,omitempty"`
	Effective   string     `xml:"effective,omitempty"`
	Onset       string     `xml:"onset,omitempty"`
	Expires     string     `xml:"expires,omitempty"`
	SenderName  string     `xml:"senderName,omitempty"`
	Headline    string     `xml:"headline,omitempty"`
	Description string     `xml:"description,omitempty"`
	Instruction string     `xml:"instruction,omitempty"`
	Web         string     `xml:"web,omitempty"`
	Parameter   []CAPValue `xml:"parameter,omitempty"`
	Area        []CAPArea  `xml:"area"`
}

// CAPValue is a valueName/value pair.
type CAPValue struct {
	ValueName string `xml:"valueName"`
	Value     string `xml:"value"`
}

// CAPArea is an <area> with a circle around the station.
type CAPArea struct {
	AreaDesc string     `xml:"areaDesc"`
	Circle   []string   `xml:"circle,omitempty"`
	Geocode  []CAPValue `xml:"geocode,omitempty"`
}

// CAPRef names an earlier CAP message for <references>.
type CAPRef struct {
	Identifier string
	Sent       time.Time
}

// CAPOptions are the sender details.
type CAPOptions struct {
	Sender     string // e.g. qingliu@gz-qy.example
	SenderName string // e.g. 广清生态环境监测预警
	RadiusKm   float64
}

// CAPIdentifier is the identifier of the CAP message for one alert state.
func CAPIdentifier(sender string, a *Alert) string {
	return fmt.Sprintf("%s.%s.%d.%d", sender, a.Ref, a.Episode, a.Seq)
}

// capTime formats CAP's dateTime: no fractional seconds, explicit offset.
func capTime(t time.Time) string { return t.In(chinaTime).Format("2006-01-02T15:04:05-07:00") }

// BuildCAP builds the CAP message describing a's current state. first says
// whether this is the first message of the episode (msgType Alert); prev
// names the message it updates or cancels.
func BuildCAP(a *Alert, o CAPOptions, first bool, prev *CAPRef) *CAP {
	if o.RadiusKm <= 0 {
		o.RadiusKm = 5
	}
	c := &CAP{Identifier: CAPIdentifier(o.Sender, a), Sender: o.Sender, Sent: capTime(a.UpdatedAt),
		Status: "Actual", MsgType: "Update", Scope: "Public", Incidents: a.Ref}
	switch {
	case a.Status == domain.Resolved:
		c.MsgType = "Cancel"
	case first:
		c.MsgType = "Alert"
	}
	if prev != nil && c.MsgType != "Alert" {
		c.References = o.Sender + "," + prev.Identifier + "," + capTime(prev.Sent)
	}
	urgency, certainty := "Immediate", "Observed"
	if a.ETA != nil && a.Kind == "propagation" {
		urgency = "Expected"
		if a.Confidence != "confirmed" {
			certainty = "Likely"
		}
	}
	if a.Status == domain.Resolved {
		urgency = "Past"
	}
	severity := a.Level.CAPSeverity()
	if severity == "" {
		severity = "Unknown"
	}
	area := CAPArea{AreaDesc: strings.TrimSpace(a.City + a.District + " " + a.StationName + " (" + a.Station + ")"),
		Geocode: []CAPValue{{ValueName: "station", Value: a.Station}}}
	if a.Lat != 0 || a.Lon != 0 {
		area.Circle = []string{strconv.FormatFloat(a.Lat, 'f', 5, 64) + "," + strconv.FormatFloat(a.Lon, 'f', 5, 64) + " " +
			strconv.FormatFloat(o.RadiusKm, 'f', 1, 64)}
	}
	params := []CAPValue{{"level", a.Level.String()}, {"alert_id", a.ID}, {"rule", a.Rule}, {"joint", strconv.FormatBool(a.Joint)}}
	if a.Parameter != "" {
		params = append(params, CAPValue{"parameter", a.Parameter}, CAPValue{"value", strconv.FormatFloat(a.Value, 'g', -1, 64)})
	}
	if a.Confidence != "" {
		params = append(params, CAPValue{"confidence", a.Confidence})
	}
	onset := ""
	if a.ETA != nil {
		onset = capTime(*a.ETA)
	}
	zhLevel := a.Level.Chinese()
	if a.Technical {
		zhLevel = "技术告警"
	}
	base := CAPInfo{Category: []string{"Env"}, Urgency: urgency, Severity: severity, Certainty: certainty,
		Effective: capTime(a.At), Onset: onset, SenderName: o.SenderName, Web: a.URL, Parameter: params,
		EventCode: []CAPValue{{"qingliu-kind", a.Kind}}, Area: []CAPArea{area}}
	if a.Status == domain.Resolved {
		base.ResponseTyp = []string{"AllClear"}
	} else {
		base.ResponseTyp = []string{"Monitor"}
	}
	zh, en := base, base
	zh.Language, zh.Event, zh.Headline, zh.Description = "zh-CN", "水环境/空气质量"+zhLevel, zhLevel+"："+a.SummaryZH, a.SummaryZH
	en.Language, en.Event, en.Headline, en.Description = "en-US", "environmental "+a.Level.String()+" warning",
		a.Level.String()+": "+a.SummaryEN, a.SummaryEN
	if a.Technical {
		en.Event = "monitoring station technical alert"
	}
	c.Info = []CAPInfo{zh, en}
	return c
}

// MarshalCAP encodes c with the XML declaration.
func MarshalCAP(c *CAP) ([]byte, error) {
	b, err := xml.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode cap: %w", err)
	}
	return append([]byte(xml.Header), b...), nil
}

// Atom is an Atom 1.0 feed.
type Atom struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Author  AtomPerson  `xml:"author"`
	Link    []AtomLink  `xml:"link"`
	Entries []AtomEntry `xml:"entry"`
}

// AtomPerson is an author.
type AtomPerson struct {
	Name string `xml:"name"`
}

// AtomLink is a link.
type AtomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

// AtomEntry is one active alert.
type AtomEntry struct {
	ID       string     `xml:"id"`
	Title    string     `xml:"title"`
	Updated  string     `xml:"updated"`
	Summary  string     `xml:"summary"`
	Link     []AtomLink `xml:"link"`
	Category []struct {
		Term string `xml:"term,attr"`
	} `xml:"category,omitempty"`
}

// BuildAtom builds the feed of active alerts, each entry linking its CAP
// document.
func BuildAtom(alerts []Alert, o CAPOptions, selfURL string, updated time.Time) *Atom {
	f := &Atom{ID: "urn:qingliu:alerts:active", Title: "清流 广清生态环境预警 (active alerts)",
		Updated: updated.UTC().Format(time.RFC3339), Author: AtomPerson{Name: o.SenderName},
		Link: []AtomLink{{Rel: "self", Type: "application/atom+xml", Href: selfURL}}}
	for i := range alerts {
		a := &alerts[i]
		e := AtomEntry{ID: "urn:qingliu:alert:" + CAPIdentifier(o.Sender, a), Title: a.Level.Chinese() + " " + a.SummaryZH,
			Updated: a.UpdatedAt.UTC().Format(time.RFC3339), Summary: a.SummaryEN,
			Link: []AtomLink{{Rel: "alternate", Type: "application/cap+xml", Href: a.CAPURL}}}
		if a.Technical {
			e.Title = "技术告警 " + a.SummaryZH
		}
		f.Entries = append(f.Entries, e)
	}
	return f
}

// MarshalAtom encodes f with the XML declaration.
func MarshalAtom(f *Atom) ([]byte, error) {
	b, err := xml.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode atom: %w", err)
	}
	return append([]byte(xml.Header), b...), nil
}
