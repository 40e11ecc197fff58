package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qingliu/qingliu/internal/conf"
)

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLoadCredentials(t *testing.T) {
	f := writeFile(t, "creds.yaml", "# DEV ONLY\nstations:\n  w1: \"pw-one\"\n  a_2: pw-two\n")
	got, err := LoadCredentials(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["w1"] != "pw-one" || got["a_2"] != "pw-two" {
		t.Errorf("LoadCredentials = %v", got)
	}
}

func TestCredentialsYAMLRoundTrip(t *testing.T) {
	in := map[string]string{"b": "pw \"two\"", "a": "ONE"}
	data := CredentialsYAML("# DEV ONLY\n", in)
	if !strings.HasPrefix(string(data), "# DEV ONLY\nstations:\n  a: \"ONE\"\n") {
		t.Errorf("CredentialsYAML:\n%s", data)
	}
	got, err := LoadCredentials(writeFile(t, "c.yaml", string(data)))
	if err != nil || len(got) != 2 || got["a"] != "ONE" || got["b"] != `pw "two"` {
		t.Errorf("round trip = %v, %v", got, err)
	}
}

func TestLoadCredentialsProblems(t *testing.T) {
	long := strings.Repeat("z", 73)
	f := writeFile(t, "bad.yaml", "stations:\n  w1: \"\"\n  \"bad id\": secret-1\n  w2: "+long+"\n")
	_, err := LoadCredentials(f)
	var ce *conf.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T): want a *conf.Error", err, err)
	}
	want := f + `: stations.bad id: "bad id" is not a station id ([A-Za-z0-9_-]{1,64})
` + f + `: stations.w1: empty password
` + f + `: stations.w2: password longer than 72 bytes (bcrypt's limit)`
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
	if strings.Contains(err.Error(), "secret-1") || strings.Contains(err.Error(), long) {
		t.Errorf("error leaks a password: %v", err)
	}
	for _, data := range []string{"stations: {}\n", "station:\n  w1: x\n"} {
		if _, err := LoadCredentials(writeFile(t, "c.yaml", data)); err == nil {
			t.Errorf("LoadCredentials(%q) succeeded", data)
		}
	}
	if _, err := LoadCredentials(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("LoadCredentials(missing file) succeeded")
	}
}
