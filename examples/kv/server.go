//go:build linux

package main

import (
	"bytes"
	"context"
	"log"
	"os"
	"sync"

	"github.com/shmring/shmring/conn"
)

// store is the server's map, shared by every connection's goroutine.
type store struct {
	mu sync.RWMutex
	m  map[string][]byte
}

func newStore() *store { return &store{m: make(map[string][]byte)} }

// handle answers one request: it is the conn.Handler of every connection.
func (s *store) handle(_ context.Context, msg []byte) ([]byte, error) {
	r, err := parseRequest(msg)
	if err != nil {
		return nil, err
	}
	switch r.op {
	case opGet:
		s.mu.RLock()
		v, ok := s.m[string(r.key)]
		s.mu.RUnlock()
		if !ok {
			return nil, errNoSuchKey
		}
		// Serve copies the reply into the ring after the lock is
		// released, while another connection may set the key: safe,
		// because a value is never changed in place, only replaced.
		return v, nil
	case opSet:
		// The request is the ring's, valid only until handle returns.
		v := bytes.Clone(r.value)
		s.mu.Lock()
		s.m[string(r.key)] = v
		s.mu.Unlock()
		return nil, nil
	default: // opDel: parseRequest lets no other op through
		s.mu.Lock()
		_, ok := s.m[string(r.key)]
		delete(s.m, string(r.key))
		s.mu.Unlock()
		if !ok {
			return nil, errNoSuchKey
		}
		return nil, nil
	}
}

// serve answers every client of l, each on a goroutine of its own, until
// ctx ends (it returns nil) or l fails. It closes l, and returns once every
// connection is closed. A connection's two segments were marked for removal
// when they were made: the kernel frees them once the client, too, has
// closed or exited, so a server that ends leaves nothing to clean up.
func serve(ctx context.Context, l *conn.Listener, logf *log.Logger) error {
	logf.Printf("listening on %s (pid %d)", l.SocketAddr(), os.Getpid())
	s := newStore()
	var wg sync.WaitGroup
	defer wg.Wait()
	// Deferred in this order so that, whatever ends the loop, the
	// listener closes, then every connection's Serve is told to stop,
	// then serve waits for them.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer l.Close()
	clients := 0
	for {
		c, err := l.AcceptContext(ctx)
		if err != nil {
			if ctx.Err() != nil {
				logf.Printf("shutting down; clients served: %d", clients)
				return nil
			}
			return err
		}
		clients++
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, c, logf)
		}()
	}
}

// serveConn answers c's requests until its client leaves or dies, or ctx
// ends, and closes it.
func (s *store) serveConn(ctx context.Context, c *conn.Conn, logf *log.Logger) {
	pid := c.PeerPID()
	logf.Printf("client pid %d connected", pid)
	err := conn.Serve(ctx, c, s.handle)
	// Close tells a client still there that the server is gone (its
	// calls return io.EOF) and lets go of the segments.
	_ = c.Close()
	switch {
	case err == nil:
		logf.Printf("client pid %d left", pid)
	case ctx.Err() != nil:
		logf.Printf("client pid %d: closed by the server", pid)
	default:
		logf.Printf("client pid %d: %v", pid, err)
	}
}
