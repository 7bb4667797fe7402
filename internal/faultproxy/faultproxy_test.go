package faultproxy_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/accountvault/accountvault/internal/faultproxy"
)

// sink is a TCP server that records everything each connection sends and
// answers each read with the same bytes (an echo server).
type sink struct {
	ln  net.Listener
	mu  sync.Mutex
	got [][]byte
	end []bool
	wg  sync.WaitGroup
}

func newSink(t *testing.T) *sink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			i := len(s.got)
			s.got = append(s.got, nil)
			s.end = append(s.end, false)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					c.Close()
					s.mu.Lock()
					s.end[i] = true
					s.mu.Unlock()
				}()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						s.mu.Lock()
						s.got[i] = append(s.got[i], buf[:n]...)
						s.mu.Unlock()
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

// received returns what connection i delivered, once it has ended.
func (s *sink) received(t *testing.T, i int) []byte {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		var b []byte
		ended := i < len(s.end) && s.end[i]
		if ended {
			b = append([]byte(nil), s.got[i]...)
		}
		s.mu.Unlock()
		if ended {
			return b
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("connection %d never ended at the server", i)
	return nil
}

func newProxy(t *testing.T, target string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

func dial(t *testing.T, p *faultproxy.Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readEOF reads from c until it fails, and reports whether it ended (EOF
// or reset) within the timeout.
func readEOF(c net.Conn, timeout time.Duration) ([]byte, bool) {
	c.SetReadDeadline(time.Now().Add(timeout))
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return out, false
			}
			return out, true
		}
	}
}

func TestForwards(t *testing.T) {
	s := newSink(t)
	p := newProxy(t, s.ln.Addr().String())
	c := dial(t, p)
	msg := []byte("hello through the proxy")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo: %q, %v", got, err)
	}
	// The proxy counts a chunk once it has written it on: the echo can
	// reach the client just before the count. Wait for it, boundedly.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if p.Bytes(faultproxy.Upstream) == int64(len(msg)) && p.Bytes(faultproxy.Downstream) == int64(len(msg)) {
			break
		}
	}
	if p.Bytes(faultproxy.Upstream) != int64(len(msg)) || p.Bytes(faultproxy.Downstream) != int64(len(msg)) {
		t.Fatalf("byte counts %d/%d, want %d each", p.Bytes(faultproxy.Upstream), p.Bytes(faultproxy.Downstream), len(msg))
	}
	if p.Open() != 1 || p.Accepted() != 1 {
		t.Fatalf("open %d accepted %d", p.Open(), p.Accepted())
	}
}

func TestCutAfterUpstreamDeliversExactlyN(t *testing.T) {
	s := newSink(t)
	p := newProxy(t, s.ln.Addr().String())
	c := dial(t, p)
	// Warm the connection so that it is established through the proxy.
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	p.CutAfter(faultproxy.Upstream, 10)
	if _, err := c.Write(bytes.Repeat([]byte("A"), 25)); err != nil {
		t.Fatal(err)
	}
	_, ended := readEOF(c, 5*time.Second)
	if !ended {
		t.Fatal("client side not closed after the cut")
	}
	if got := s.received(t, 0); len(got) != 11 {
		t.Fatalf("server received %d bytes, want 1 + 10", len(got))
	}
	if p.Cuts() != 1 || p.Armed(faultproxy.Upstream) {
		t.Fatalf("cuts %d, still armed %v", p.Cuts(), p.Armed(faultproxy.Upstream))
	}
	// New connections are forwarded again.
	c2 := dial(t, p)
	if _, err := c2.Write([]byte("again")); err != nil {
		t.Fatal(err)
	}
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c2, make([]byte, 5)); err != nil {
		t.Fatalf("after a cut: %v", err)
	}
}

func TestCutAfterDownstream(t *testing.T) {
	s := newSink(t)
	p := newProxy(t, s.ln.Addr().String())
	c := dial(t, p)
	p.CutAfter(faultproxy.Downstream, 7)
	if _, err := c.Write(bytes.Repeat([]byte("B"), 20)); err != nil {
		t.Fatal(err)
	}
	got, ended := readEOF(c, 5*time.Second)
	if !ended || len(got) != 7 {
		t.Fatalf("client got %d bytes (ended %v), want 7 then the end", len(got), ended)
	}
}

func TestCutAllAndDown(t *testing.T) {
	s := newSink(t)
	p := newProxy(t, s.ln.Addr().String())
	a, b := dial(t, p), dial(t, p)
	for _, c := range []net.Conn{a, b} {
		if _, err := c.Write([]byte("y")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
	}
	p.SetDown(true)
	p.CutAll()
	for i, c := range []net.Conn{a, b} {
		if _, ended := readEOF(c, 5*time.Second); !ended {
			t.Fatalf("connection %d survived CutAll", i)
		}
	}
	c := dial(t, p) // accepted by the listener, then closed
	if _, ended := readEOF(c, 5*time.Second); !ended {
		t.Fatal("a connection made while down was not refused")
	}
	if p.Refused() != 1 {
		t.Fatalf("refused %d, want 1", p.Refused())
	}
	p.SetDown(false)
	c = dial(t, p)
	if _, err := c.Write([]byte("z")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatalf("after down: %v", err)
	}
}
