package notify_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/qingliu/qingliu/alert/notify"
	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/testenv"
)

// waitFor bounds every wait on a real server.
const waitFor = 5 * time.Second

// shippedTemplates loads configs/templates, the templates the service runs
// with.
func shippedTemplates(t *testing.T) *notify.Templates {
	t.Helper()
	tm, err := notify.LoadTemplates(filepath.Join(testenv.RepoRoot(t), "configs", "templates"), "zh", "en")
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// testAlert is a red ammonia warning at Shijiao; times are UTC so that they
// survive a JSON round trip unchanged.
func testAlert() notify.Alert {
	at := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	eta := at.Add(6 * time.Hour)
	return notify.Alert{
		ID: "nh3n-high/bj-shijiao/nh3n", Ref: "0123456789abcdef", Episode: 1, Seq: 2, Status: domain.Firing,
		Level: domain.Red, LevelZH: domain.Red.Chinese(), PrevLevel: domain.Orange, Rule: "nh3n-high", Kind: "value",
		Station: "bj-shijiao", StationName: "石角", Parameter: "nh3n", River: "北江", City: "清远",
		Jurisdictions: []string{"广州", "清远"}, Joint: true, Value: 3.1, Threshold: 2, ETA: &eta,
		Agencies:  []notify.AgencyAck{{Agency: "gz", Name: "广州市生态环境局"}, {Agency: "qy", Name: "清远市生态环境局"}},
		SummaryZH: "北江石角氨氮红色预警", SummaryEN: "Beijiang Shijiao ammonia red warning",
		At: at, StartsAt: at, UpdatedAt: at, URL: "http://127.0.0.1:8080/a/0123",
	}
}

// testMessage is one delivery of items to receiver gz-sms.
func testMessage(items ...notify.Item) *notify.Message {
	return &notify.Message{ID: items[0].ID, Receiver: "gz-sms", Agency: "gz",
		Created: time.Date(2026, 11, 26, 6, 0, 5, 0, time.UTC), Items: items}
}

func firing(a notify.Alert) notify.Item {
	return notify.Item{ID: a.ID + ":2:gz-sms", Event: notify.EventFiring, Alert: a}
}
