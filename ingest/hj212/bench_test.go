package hj212

import (
	"bytes"
	"io"
	"testing"
)

// frame2011 is a real-time upload from a surface-water station with the nine
// parameters of a typical 国考 section (pH, DO, temperature, conductivity,
// turbidity, CODMn, NH3-N, TP, TN), each with its flag.
var frame2011 = []byte(frameOf("QN=20261126140000123;ST=21;CN=2011;PW=123456;MN=QY-BJ-QXG-001;Flag=5;CP=&&DataTime=20261126140000;" +
	"w01001-Rtd=7.21,w01001-Flag=N;w01009-Rtd=6.83,w01009-Flag=N;w01010-Rtd=18.6,w01010-Flag=N;" +
	"w01014-Rtd=312.5,w01014-Flag=N;w01003-Rtd=13.10,w01003-Flag=N;w01019-Rtd=2.41,w01019-Flag=N;" +
	"w21003-Rtd=0.42,w21003-Flag=N;w21011-Rtd=0.08,w21011-Flag=N;w21001-Rtd=1.35,w21001-Flag=M&&"))

func BenchmarkParse2011(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(frame2011)))
	for b.Loop() {
		p, _, err := ParseFrame(frame2011)
		if err != nil || len(p.CP.Values) != 9 {
			b.Fatal(err)
		}
	}
}

// BenchmarkReader reads a stream of 1000 such frames; ns/op and allocs/op
// are per frame.
func BenchmarkReader(b *testing.B) {
	const n = 1000
	stream := bytes.Repeat(frame2011, n)
	src := bytes.NewReader(stream)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame2011)))
	r := NewReader(src, 0)
	i := 0
	for b.Loop() {
		if i%n == 0 {
			src.Reset(stream)
			r = NewReader(src, 0) // amortised over n frames
		}
		i++
		if _, err := r.ReadFrame(); err != nil && err != io.EOF {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadParseAck is the listener's per-frame work: read, parse, build
// the 9014.
func BenchmarkReadParseAck(b *testing.B) {
	const n = 1000
	stream := bytes.Repeat(frame2011, n)
	src := bytes.NewReader(stream)
	b.ReportAllocs()
	r := NewReader(src, 0)
	var ack []byte
	i := 0
	for b.Loop() {
		if i%n == 0 {
			src.Reset(stream)
			r = NewReader(src, 0)
		}
		i++
		f, err := r.ReadFrame()
		if err != nil {
			b.Fatal(err)
		}
		p, _, err := ParseFrame(f)
		if err != nil {
			b.Fatal(err)
		}
		if ack, err = AppendFrame(ack[:0], reply(p, CNDataAck)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAck9014(b *testing.B) {
	p, _, _ := ParseFrame(frame2011)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Ack9014(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCRC(b *testing.B) {
	data := frame2011[6 : len(frame2011)-6]
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		CRC(data)
	}
}
