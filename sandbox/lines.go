package sandbox

import (
	"bytes"
	"strings"
)

// maxLineBytes is the longest line delivered whole; longer ones arrive in pieces of this size,
// so that a minified bundle printed to stdout cannot make us buffer without bound.
const maxLineBytes = 64 << 10

// lineWriter cuts a byte stream into lines and hands each to emit. It is not safe for
// concurrent use: Run drives both streams' writers from the one goroutine that demultiplexes.
type lineWriter struct {
	stream string
	emit   func(Line)
	buf    []byte
}

func newLineWriter(stream string, emit func(Line)) *lineWriter {
	return &lineWriter{stream: stream, emit: emit}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			p = nil
		} else {
			w.buf = append(w.buf, p[:i]...)
			p = p[i+1:]
		}
		for len(w.buf) > maxLineBytes {
			w.emit(Line{Stream: w.stream, Text: string(w.buf[:maxLineBytes])})
			w.buf = w.buf[maxLineBytes:]
		}
		if i >= 0 {
			w.send(w.buf)
			w.buf = w.buf[:0]
		}
	}
	// Slicing from the front leaves a growing backing array behind; start afresh when empty.
	if len(w.buf) == 0 && cap(w.buf) > 2*maxLineBytes {
		w.buf = nil
	}
	return n, nil
}

// flush delivers a last line that had no newline.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.send(w.buf)
		w.buf = w.buf[:0]
	}
}

func (w *lineWriter) send(b []byte) {
	w.emit(Line{Stream: w.stream, Text: strings.TrimSuffix(string(b), "\r")})
}
