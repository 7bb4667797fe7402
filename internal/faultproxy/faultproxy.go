// Package faultproxy is a TCP proxy for tests that inject network faults
// between a client and a real server: it forwards connections from a
// loopback port to a target address and, on command, cuts every connection
// it carries (closing both sides), cuts them once a given number of bytes
// has been forwarded in one direction, or refuses new connections.
//
// It is for tests only. It holds no data beyond the bytes in flight and
// never logs what it forwards.
package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Direction names one way of a proxied connection.
type Direction int

const (
	// Upstream is the client-to-server direction (requests).
	Upstream Direction = iota
	// Downstream is the server-to-client direction (responses).
	Downstream
)

func (d Direction) String() string {
	switch d {
	case Upstream:
		return "upstream"
	case Downstream:
		return "downstream"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

// A Proxy forwards TCP connections from its loopback address to a target.
// Its methods are safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  map[*pair]struct{}
	budget [2]int64 // bytes left before a cut, per direction; -1: not armed, -2: cut under way
	down   bool     // refuse new connections
	closed bool

	bytes    [2]atomic.Int64 // bytes forwarded, per direction
	cuts     atomic.Int64    // cut events (CutAll or an armed budget reached)
	accepted atomic.Int64    // connections accepted and forwarded
	refused  atomic.Int64    // connections refused while down, or whose dial failed

	wg sync.WaitGroup
}

// pair is one proxied connection: the client's side and the server's.
type pair struct {
	client, server net.Conn
	once           sync.Once
}

func (p *pair) close() {
	p.once.Do(func() {
		p.client.Close()
		p.server.Close()
	})
}

// New starts a proxy listening on 127.0.0.1 on a free port and forwarding
// to target (host:port). Close stops it.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[*pair]struct{}{}, budget: [2]int64{-1, -1}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr returns the proxy's listening address (127.0.0.1:port).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port returns the proxy's listening port.
func (p *Proxy) Port() uint16 { return uint16(p.ln.Addr().(*net.TCPAddr).Port) }

// CutAll closes every connection the proxy currently carries, both sides,
// and disarms any pending CutAfter. New connections are still forwarded
// (unless SetDown).
func (p *Proxy) CutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutLocked()
}

func (p *Proxy) cutLocked() {
	// Count first: a client may see its connection end, and ask, before
	// this function returns.
	p.cuts.Add(1)
	p.budget = [2]int64{-1, -1}
	for c := range p.conns {
		c.close()
		delete(p.conns, c)
	}
}

// CutAfter arms a cut: once n more bytes (n >= 0) have been forwarded in
// direction d, over all connections together, exactly those n bytes are
// delivered and every connection is then cut, as by CutAll. A later
// CutAfter replaces a pending one in the same direction.
func (p *Proxy) CutAfter(d Direction, n int64) {
	if n < 0 {
		panic("faultproxy: CutAfter with a negative count")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.budget[d] = n
}

// Disarm cancels pending CutAfter cuts.
func (p *Proxy) Disarm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.budget = [2]int64{-1, -1}
}

// Armed reports whether a CutAfter in direction d is pending.
func (p *Proxy) Armed(d Direction) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.budget[d] != -1
}

// SetDown makes the proxy refuse (accept and at once close) new
// connections while down is true, as a server that is unreachable would.
// It does not cut the connections already open: call CutAll for that.
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// Bytes returns the number of bytes forwarded so far in direction d.
func (p *Proxy) Bytes(d Direction) int64 { return p.bytes[d].Load() }

// Cuts returns the number of cuts so far (CutAll calls and armed cuts that
// fired).
func (p *Proxy) Cuts() int64 { return p.cuts.Load() }

// Accepted returns the number of connections forwarded so far.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Refused returns the number of connections refused so far (while down,
// or because the target could not be reached).
func (p *Proxy) Refused() int64 { return p.refused.Load() }

// Open returns the number of connections currently carried.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close stops accepting, cuts every connection and waits for the proxy's
// goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for c := range p.conns {
		c.close()
		delete(p.conns, c)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // listener closed
		}
		p.mu.Lock()
		down, closed := p.down, p.closed
		p.mu.Unlock()
		if down || closed {
			p.refused.Add(1)
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			p.refused.Add(1)
			c.Close()
			continue
		}
		pr := &pair{client: c, server: s}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			pr.close()
			continue
		}
		p.conns[pr] = struct{}{}
		p.mu.Unlock()
		p.accepted.Add(1)
		p.wg.Add(2)
		go p.pipe(pr, Upstream, s, c)
		go p.pipe(pr, Downstream, c, s)
	}
}

// pipe copies from src to dst in direction d until either side fails,
// honouring an armed cut.
func (p *Proxy) pipe(pr *pair, d Direction, dst io.Writer, src io.Reader) {
	defer p.wg.Done()
	defer p.drop(pr)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			take, cut := p.take(d, n)
			if take > 0 {
				if _, werr := dst.Write(buf[:take]); werr != nil {
					return
				}
				p.bytes[d].Add(int64(take))
			}
			if cut {
				p.mu.Lock()
				p.cutLocked()
				p.mu.Unlock()
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			// Half-close is not forwarded: a peer that ends its side
			// ends the connection.
			return
		}
	}
}

// take returns how many of n bytes read in direction d may be forwarded,
// and whether the connections must be cut after forwarding them.
func (p *Proxy) take(d Direction, n int) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.budget[d]
	switch {
	case b == -2:
		return 0, false // another connection reached the budget: this one is being cut
	case b < 0:
		return n, false
	}
	if int64(n) < b {
		p.budget[d] = b - int64(n)
		return n, false
	}
	p.budget[d] = -2
	return int(b), true
}

// drop closes pr and forgets it.
func (p *Proxy) drop(pr *pair) {
	pr.close()
	p.mu.Lock()
	delete(p.conns, pr)
	p.mu.Unlock()
}
