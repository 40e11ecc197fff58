package auth

import (
	"crypto/tls"
	"path/filepath"
	"testing"

	"github.com/qingliu/qingliu/internal/testenv"
)

func TestTLSConfigsHandshake(t *testing.T) {
	p := testenv.NewPKI(t)
	caFile, certFile, keyFile := p.CAFile, p.CertFile, p.KeyFile
	srv, err := ServerTLS(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	cli, err := ClientTLS(caFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", ln.Addr().String(), cli)
	if err != nil {
		t.Fatalf("handshake with the test CA: %v", err)
	}
	c.Close()
	// Without the CA the server is not trusted.
	sys, _ := ClientTLS("")
	if c, err := tls.Dial("tcp", ln.Addr().String(), sys); err == nil {
		c.Close()
		t.Error("handshake succeeded against the system roots")
	}
}

func TestTLSConfigErrors(t *testing.T) {
	p := testenv.NewPKI(t)
	certFile, keyFile := p.CertFile, p.KeyFile
	if _, err := ServerTLS(certFile, ""); err == nil {
		t.Error("ServerTLS without a key succeeded")
	}
	if _, err := ServerTLS(keyFile, certFile); err == nil {
		t.Error("ServerTLS with swapped files succeeded")
	}
	if _, err := ClientTLS(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Error("ClientTLS(missing file) succeeded")
	}
	if _, err := ClientTLS(keyFile); err == nil {
		t.Error("ClientTLS(a key, not a certificate) succeeded")
	}
}
