package ringtest

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// peerEnv names the environment variable that makes a test binary a peer:
// its value is the peerSpec, in JSON.
const peerEnv = "RINGTEST_PEER"

// The peer's parts.
const (
	roleSink    = "sink"    // Throughput: receive until io.EOF, then send the ack
	roleRespond = "respond" // RoundTrip: answer every request until io.EOF
)

// peerSpec is what the benchmark tells its peer.
type peerSpec struct {
	Role string
	Name string    // the Sink or Responder; "" for the drain or the echo
	In   shmseg.ID // the ring the peer consumes
	Out  shmseg.ID // the ring the peer produces on
	Wait ring.WaitStrategy
}

// ack is the peer's answer to the end of a Throughput stream: what it
// received. sum adds the first and last byte of every message, so a
// message that arrived with either end wrong shows up too.
type ack struct{ count, bytes, sum uint64 }

const ackSize = 24

func (a ack) encode() []byte {
	b := make([]byte, 0, ackSize)
	b = binary.LittleEndian.AppendUint64(b, a.count)
	b = binary.LittleEndian.AppendUint64(b, a.bytes)
	return binary.LittleEndian.AppendUint64(b, a.sum)
}

func decodeAck(b []byte) (ack, error) {
	if len(b) != ackSize {
		return ack{}, fmt.Errorf("ack of %d bytes, want %d", len(b), ackSize)
	}
	le := binary.LittleEndian
	return ack{le.Uint64(b), le.Uint64(b[8:]), le.Uint64(b[16:])}, nil
}

// ends returns the first and last byte of msg added, the checksum of ack.
func ends(msg []byte) uint64 {
	if len(msg) == 0 {
		return 0
	}
	return uint64(msg[0]) + uint64(msg[len(msg)-1])
}

// Bounds on a peer that does not answer. They end a broken run; a slow
// machine stays well within them.
const (
	readyTimeout = time.Minute
	exitTimeout  = time.Minute
	// failGrace is how long a failed ring call waits for the peer to
	// exit before it reports without the peer's account.
	failGrace = 10 * time.Second
)

// peer is the benchmark's handle on its peer process.
type peer struct {
	pid    int
	out    *capped // its stdout and stderr
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
	// ctx ends when the peer exits, so that no ring call waits on a
	// peer that is gone; its cause says how it ended.
	ctx context.Context
}

// startPeer starts the test binary again as the peer that s describes, and
// returns once the peer has attached the rings and claimed its roles. The
// peer is killed and reaped when h's test or benchmark ends.
func startPeer(h harness, s peerSpec) (*peer, error) {
	h.Helper()
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the test binary: %w", err)
	}
	spec, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	cmd := exec.Command(exe, "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), peerEnv+"="+string(spec),
		// A race-built peer otherwise sleeps a second at exit.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	// The peer's output is kept for the report of a failure: on the
	// benchmark's own stdout it would break the lines that benchstat
	// reads.
	out := &capped{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.ExtraFiles = []*os.File{wr} // fd 3: the peer says "ready" on it
	// Wait returns this long after the peer exits even if a process of
	// its own still holds its output open.
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Start()
	wr.Close()
	if err != nil {
		return nil, fmt.Errorf("start the peer: %w", err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	p := &peer{pid: cmd.Process.Pid, out: out, exited: make(chan struct{}), ctx: ctx}
	go func() {
		p.err = cmd.Wait()
		cancel(fmt.Errorf("the peer (pid %d) exited: %v", p.pid, p.status()))
		close(p.exited)
	}()
	h.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})

	if err := p.awaitReady(cmd, rd); err != nil {
		return nil, err
	}
	return p, nil
}

// awaitReady waits for the peer started as cmd to say "ready" on rd, and
// kills it if it does not within readyTimeout.
func (p *peer) awaitReady(cmd *exec.Cmd, rd *os.File) error {
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(rd).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("it said %q, want \"ready\"", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err == nil {
			return nil
		}
		if err := p.wait(); err != nil {
			return fmt.Errorf("the peer ended before it was ready: %w", err)
		}
		return fmt.Errorf("the peer (pid %d) exited 0 before it was ready: does TestMain call ringtest.Main or ringtest.Run?%s",
			p.pid, p.output())
	case <-time.After(readyTimeout):
		// Its output may be read only once it is reaped.
		_ = cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("the peer (pid %d) was not ready after %v, and was killed%s", p.pid, readyTimeout, p.output())
	}
}

// status is how the peer exited, once it has.
func (p *peer) status() string {
	if p.err != nil {
		return p.err.Error()
	}
	return "exit status 0"
}

// output is what the peer printed, for an error message; "" if nothing.
func (p *peer) output() string {
	if len(p.out.b) == 0 {
		return ""
	}
	return "\npeer output:\n" + strings.TrimSuffix(p.out.String(), "\n")
}

// wait waits for the peer to exit, and returns an error saying how unless
// it exited 0.
func (p *peer) wait() error {
	select {
	case <-p.exited:
	case <-time.After(exitTimeout):
		return fmt.Errorf("the peer (pid %d) did not exit after %v", p.pid, exitTimeout)
	}
	if p.err != nil {
		return fmt.Errorf("the peer (pid %d) exited: %v%s", p.pid, p.err, p.output())
	}
	return nil
}

// fail adds to err, an error of a ring call on the benchmark's side, what
// became of the peer: a ring call fails mostly because the peer failed
// (it closed its rings, io.EOF or ring.ErrClosed here, or died), and its
// output says why. Only a message too large is the benchmark's own
// doing, and is reported at once.
func (p *peer) fail(err error) error {
	grace := failGrace
	if errors.Is(err, ring.ErrMessageTooLarge) {
		grace = 0
	}
	select {
	case <-p.exited:
	case <-time.After(grace):
		return err
	}
	return fmt.Errorf("%w; the peer (pid %d) exited: %v%s", err, p.pid, p.status(), p.output())
}

// capped keeps the first max bytes written to it. exec.Cmd writes a
// process's stdout and stderr from one goroutine when both are the same
// writer, and it is read only after the process has been reaped.
type capped struct {
	b       []byte
	max     int
	dropped int
}

func (c *capped) Write(p []byte) (int, error) {
	k := min(len(p), c.max-len(c.b))
	c.b = append(c.b, p[:k]...)
	c.dropped += len(p) - k
	return len(p), nil
}

func (c *capped) String() string {
	if c.dropped > 0 {
		return fmt.Sprintf("%s\n[%d more bytes not kept]", c.b, c.dropped)
	}
	return string(c.b)
}

// peerMain is the peer process: it plays the part spec describes and
// returns the exit code.
func peerMain(spec string) int {
	// The peer's own children, if the caller's code makes any, are not
	// peers.
	_ = os.Unsetenv(peerEnv)
	ctl := os.NewFile(3, "ringtest-ready")
	if err := runPeer(spec, ctl); err != nil {
		fmt.Fprintf(os.Stderr, "ringtest peer: %v\n", err)
		return 1
	}
	return 0
}

func runPeer(spec string, ctl *os.File) error {
	var s peerSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		return fmt.Errorf("%s=%q: %w", peerEnv, spec, err)
	}
	var serve func(ctx context.Context, c *ring.Consumer, p *ring.Producer) error
	mu.Lock()
	switch s.Role {
	case roleSink:
		sink := sinks[s.Name]
		if s.Name != "" && sink == nil {
			mu.Unlock()
			return fmt.Errorf("no sink %q in this process: NewSink must run when the program starts (a package-level var), or in TestMain before ringtest.Main", s.Name)
		}
		serve = func(ctx context.Context, c *ring.Consumer, p *ring.Producer) error { return drain(ctx, c, p, sink) }
	case roleRespond:
		resp := responders[s.Name]
		if s.Name != "" && resp == nil {
			mu.Unlock()
			return fmt.Errorf("no responder %q in this process: NewResponder must run when the program starts (a package-level var), or in TestMain before ringtest.Main", s.Name)
		}
		serve = func(ctx context.Context, c *ring.Consumer, p *ring.Producer) error { return respond(ctx, c, p, resp) }
	default:
		mu.Unlock()
		return fmt.Errorf("unknown role %q", s.Role)
	}
	mu.Unlock()

	opts := ringOptions(s.Wait)
	in, err := ring.OpenID(s.In, opts)
	if err != nil {
		return fmt.Errorf("open the input ring: %w", err)
	}
	defer in.Close()
	out, err := ring.OpenID(s.Out, opts)
	if err != nil {
		return fmt.Errorf("open the output ring: %w", err)
	}
	defer out.Close()
	c, err := in.Consumer()
	if err != nil {
		return err
	}
	p, err := out.Producer()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(ctl, "ready\n"); err != nil {
		return fmt.Errorf("tell the benchmark it is ready: %w", err)
	}
	_ = ctl.Close()
	return serve(context.Background(), c, p)
}

// drain receives until io.EOF, hands each message to sink (if any), and
// then sends what it received.
func drain(ctx context.Context, c *ring.Consumer, p *ring.Producer, sink *Sink) error {
	// The ring is this package's, its slots sized for Config.MaxMessage
	// and its max_message the slot's payload (ringConfig): MaxMessage is
	// what the benchmark said its messages need, not a ring default.
	buf := make([]byte, c.MaxMessage())
	var a ack
	for {
		n, err := c.Recv(ctx, buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("receive message %d: %w", a.count, err)
		}
		msg := buf[:n]
		a.sum += ends(msg) // before the sink, which may write msg
		if sink != nil {
			if err := sink.fn(msg); err != nil {
				return fmt.Errorf("sink %q: message %d: %w", sink.name, a.count, err)
			}
		}
		a.count++
		a.bytes += uint64(n)
	}
	if err := p.Send(ctx, a.encode()); err != nil {
		return fmt.Errorf("send the count: %w", err)
	}
	return p.Close()
}

// respond answers every request until io.EOF: with resp's reply, or
// without one with the request itself, copied slot to slot.
func respond(ctx context.Context, c *ring.Consumer, p *ring.Producer, resp *Responder) error {
	buf := make([]byte, 0, p.MaxMessage())
	for i := 0; ; i++ {
		req, err := c.Peek(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("receive request %d: %w", i, err)
		}
		if resp == nil {
			o, err := p.Reserve(ctx, len(req))
			if err != nil {
				return fmt.Errorf("reply %d: %w", i, err)
			}
			copy(o, req)
			err = p.Commit()
			if err != nil {
				return fmt.Errorf("reply %d: %w", i, err)
			}
		} else {
			reply, err := resp.fn(req, buf[:0])
			if err != nil {
				return fmt.Errorf("responder %q: request %d: %w", resp.name, i, err)
			}
			if err := p.Send(ctx, reply); err != nil {
				return fmt.Errorf("responder %q: reply %d: %w", resp.name, i, err)
			}
		}
		if err := c.Release(); err != nil {
			return err
		}
	}
	return p.Close()
}
