package auth

import "testing"

func TestSecretEqual(t *testing.T) {
	for _, c := range []struct {
		got, want string
		ok        bool
	}{
		{"dev-admin-token-0001", "dev-admin-token-0001", true},
		{"dev-admin-token-0002", "dev-admin-token-0001", false},
		{"dev-admin-token-000", "dev-admin-token-0001", false},
		{"", "", false}, // nothing configured: nothing matches
		{"x", "", false},
	} {
		if got := SecretEqual(c.got, c.want); got != c.ok {
			t.Errorf("SecretEqual(%q, %q) = %v, want %v", c.got, c.want, got, c.ok)
		}
	}
}
