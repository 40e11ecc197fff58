package auth

import (
	"crypto/sha256"
	"crypto/subtle"
)

// SecretEqual reports whether got is the configured secret want, in
// constant time; hashing first hides the length too. An empty want matches
// nothing.
func SecretEqual(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return want != "" && subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
