// Package auth holds the credential primitives of Qingliu's MQTT security:
// random passwords, bcrypt hashes for the embedded broker, Mosquitto's
// PBKDF2 password file and ACL file, the DEV ONLY station credentials file,
// and TLS configurations from PEM files.
//
// It knows nothing of the station registry: callers pass plain values, so
// the rules about which station may do what stay with their callers.
// Passwords are secrets: no function here puts one in an error.
package auth

import (
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

const (
	// DefaultCost is the bcrypt cost of the hashes `qingliu gen credentials`
	// prints: bcrypt's own default, 60–90 ms of CPU per check on a 2-core
	// machine. Every MQTT CONNECT pays it once.
	DefaultCost = bcrypt.DefaultCost
	// MinCost is bcrypt's minimum. The shipped development hashes use it: the
	// passwords behind them are public (configs/dev-credentials.yaml), so the
	// cost protects nothing and a low one keeps `qingliu up --sim` and the
	// tests fast (1–3 ms per check). Random passwords from NewPassword make
	// the cost irrelevant to guessing; it matters only for passwords people
	// choose.
	MinCost = bcrypt.MinCost
)

// ErrPasswordTooLong is returned for passwords bcrypt cannot hash (over 72
// bytes).
var ErrPasswordTooLong = bcrypt.ErrPasswordTooLong

// NewPassword returns a random password of 26 characters from the RFC 4648
// base32 alphabet (A–Z, 2–7): 130 bits from crypto/rand, and nothing a shell,
// a URL, a YAML file or a device's configuration page needs to escape.
func NewPassword() string { return rand.Text() }

// HashPassword returns the bcrypt hash ($2a$…) of password at cost.
func HashPassword(password string, cost int) (string, error) {
	if password == "" {
		return "", errors.New("bcrypt: empty password")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("bcrypt: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether password matches the bcrypt hash. bcrypt
// compares in constant time.
func CheckPassword(hash, password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}
