package ingest

import (
	"crypto/tls"
	"fmt"
	"net"
)

// listen binds a source's TCP listener, and loads its TLS certificate when
// one is configured, so that a port in use or a bad certificate is one clear
// error at start-up. component prefixes the errors (hj212, push).
func listen(component, addr, certFile, keyFile string) (net.Listener, *tls.Config, error) {
	var tc *tls.Config
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: load TLS certificate %s: %w", component, certFile, err)
		}
		tc = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: listen on %s: %w", component, addr, err)
	}
	return ln, tc, nil
}
