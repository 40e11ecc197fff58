package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestNewPasswordIsRandomAndPlain(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		pw := NewPassword()
		if len(pw) < 26 || strings.Trim(pw, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
			t.Fatalf("NewPassword() = %q: want at least 26 base32 characters", pw)
		}
		if seen[pw] {
			t.Fatalf("NewPassword() repeated %q", pw)
		}
		seen[pw] = true
	}
}

func TestHashPassword(t *testing.T) {
	h, err := HashPassword("s3cret", MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$2a$04$") || len(h) != 60 {
		t.Errorf("hash %q: want $2a$04$ and 60 characters", h)
	}
	if !CheckPassword(h, "s3cret") {
		t.Error("CheckPassword(hash, right password) = false")
	}
	for _, wrong := range []string{"", "s3cre", "s3cret ", "S3CRET"} {
		if CheckPassword(h, wrong) {
			t.Errorf("CheckPassword(hash, %q) = true", wrong)
		}
	}
	if CheckPassword("not a hash", "s3cret") {
		t.Error("CheckPassword(malformed hash) = true")
	}
	if _, err := HashPassword("", MinCost); err == nil {
		t.Error("HashPassword(\"\") succeeded")
	}
	long := strings.Repeat("x", 73)
	if _, err := HashPassword(long, MinCost); !errors.Is(err, ErrPasswordTooLong) || strings.Contains(err.Error(), long) {
		t.Errorf("HashPassword(73 bytes) error = %v, want ErrPasswordTooLong without the password", err)
	}
}
