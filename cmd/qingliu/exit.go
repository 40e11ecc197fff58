package main

import (
	"errors"
	"fmt"
)

// exitError carries the process exit status for an error. Bad input (a bad
// flag, argument, payload or config) exits 2; anything else exits 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// badInput marks err as the user's input being wrong: exit status 2.
func badInput(err error) error { return &exitError{code: 2, err: err} }

// badInputf is badInput with formatting.
func badInputf(format string, args ...any) error { return badInput(fmt.Errorf(format, args...)) }

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}
