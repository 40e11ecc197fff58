// Package hj212 is a pure codec for HJ 212-2017 (污染物在线监控（监测）系统数据传输标准)
// as spoken by water and air dataloggers over TCP: frames, the Appendix A CRC,
// the data segment and its CP fields, split-packet reassembly, and the replies
// a platform sends back (9014 data ack, 9013 notice ack, 9011 QnRtn, 1012 set
// time).
//
// It does no I/O of its own beyond reading from the io.Reader it is given, reads
// no clock (times are arguments) and keeps no package-level mutable state.
//
// A frame on the wire is
//
//	##dddd<data segment><CRC>\r\n
//
// where dddd is the data-segment length in bytes and CRC is four hex digits of
// the Appendix A checksum over the data segment only. Length and CRC are checked
// independently: a frame may carry a correct CRC and a wrong length field, and
// some devices send CRC-16/MODBUS low byte first, which a Parser accepts for
// the MNs its ModbusCRC function names.
//
// Typical use by a TCP listener:
//
//	rd := hj212.NewReader(conn, 0)
//	parser := hj212.Parser{ModbusCRC: lenientMN}
//	for {
//		frame, err := rd.ReadFrame()
//		// ErrGarbage, ErrTooLong and ErrTruncated are recoverable: frame holds
//		// the skipped bytes for quarantine; keep reading.
//		…
//		p, _, err := parser.Parse(frame)
//		if err != nil {
//			reply, _ := hj212.QnRtn9011(p, hj212.RtnFor(err))
//			…
//		}
//		if p.AckRequested() {
//			reply, _ := hj212.Ack9014(p)
//			…
//		}
//	}
//
// Times in the protocol (QN, DataTime, SystemTime) are local Beijing time
// without a zone; the package reads and writes them in UTC+8 (Asia/Shanghai,
// which has had no daylight saving since 1991).
package hj212
