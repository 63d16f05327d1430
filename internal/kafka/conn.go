package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/hugemem"
	"github.com/sluicehq/sluice/internal/produce"
)

// request is one decoded request with its header.
type request struct {
	key           int16
	version       int16
	correlationID int32
	clientID      string
	remote        string
	// principal is who the connection authenticated as (auth.Anonymous
	// until a listener's TLS or SASL establishes someone else). Set by the
	// read loop before dispatch; handlers and their wait funcs only read it.
	principal auth.Principal
	// listener is the name of the listener the connection came in on:
	// Metadata, FindCoordinator and DescribeCluster answer with that
	// listener's addresses.
	listener string
	// conn is the connection's authentication state, for SaslHandshake
	// and SaslAuthenticate, which run on the read loop (see connAuth).
	conn     *connAuth
	msg      kmsg.Request
	received time.Time
	// source is the connection as the write path knows it.
	source *produce.Source
	// size is the request frame's size in bytes; mute is the
	// connection's quota mute (quota.go).
	size int
	mute *connMute
	// waited is the part of the handler's time spent waiting on others
	// (a fetch's long poll, a produce's flush, a rebalance), which no
	// request_percentage quota counts. Written and read only by the
	// goroutine running the handler and then its wait func, in turn.
	waited time.Duration
}

// reply is a handler's answer. Handlers do their ordering-sensitive work
// (validation, submitting batches, creating topics) before returning, in the
// connection's read order; wait, if set, then runs on its own goroutine so
// slow requests (a produce waiting for its flush, a long-polling fetch) do
// not stop the connection from reading the next request. Responses are
// still written in request order, as Kafka requires.
type reply struct {
	resp kmsg.Response
	wait func() kmsg.Response
	// none is set for requests that get no response (produce with acks=0).
	none bool
	// closeConn asks for the connection to be closed after this request,
	// as Kafka does for acks=0 produce errors.
	closeConn bool
	// failed marks a request whose handler panicked: the writer closes the
	// connection instead of answering it (see recovered).
	failed bool
	// raw answers a bare SASL frame of the v0 flow: rawBytes are written
	// with only a size prefix.
	raw      bool
	rawBytes []byte
}

func ready(resp kmsg.Response) reply { return reply{resp: resp} }

// errCloseConn tells the read loop to drop the connection, as Kafka does for
// requests it cannot parse or does not support.
var errCloseConn = errors.New("closing connection")

// outbound is a response slot, filled when the request completes.
type outbound struct {
	req  *request
	done chan reply
}

func (s *Server) serveConn(ctx context.Context, c net.Conn, l *Listener) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer c.Close()
	s.metrics.connections.Inc()
	defer s.metrics.connections.Dec()
	c, principal, err := s.secureConn(ctx, c, l)
	if err != nil {
		return
	}
	ca := newConnAuth(l, principal)
	src := produce.NewSource()
	defer s.producer.Forget(src)

	// waits tracks the goroutines running this connection's slow requests
	// (reply.wait); the connection is done only when they are.
	var waits sync.WaitGroup
	defer waits.Wait()
	queue := make(chan outbound, s.cfg.MaxInFlightPerConn)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		defer cancel()
		// The writer stops on its own only when it cannot answer (a write
		// failed, a handler panicked): then the socket is closed at once,
		// which also ends a reader blocked on it, so a client never waits
		// on a connection no one answers.
		defer c.Close()
		s.writeLoop(ctx, c, queue)
	}()
	err = s.readLoop(ctx, c, ca, src, queue, &waits)
	close(queue)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
		s.logger.Debug("closing connection", "remote", c.RemoteAddr().String(), "err", err)
	}
	<-writerDone
}

// recovered runs fn, turning a panic into a failed reply: the panic is
// logged with its stack and counted, and only this request's connection
// is closed (by the writer), never the agent.
func (s *Server) recovered(req *request, fn func() reply) (r reply) {
	defer func() {
		if p := recover(); p != nil {
			s.metrics.panics.Inc()
			s.logger.Error("request handler panicked; closing the connection", "api", kmsg.NameForKey(req.key), "version", req.version,
				"client_id", req.clientID, "remote", req.remote, "panic", p, "stack", string(debug.Stack()))
			r = reply{failed: true}
		}
	}()
	return fn()
}

func (s *Server) readLoop(ctx context.Context, c net.Conn, ca *connAuth, src *produce.Source, queue chan<- outbound, waits *sync.WaitGroup) error {
	br := bufio.NewReaderSize(c, 64<<10)
	var sizeBuf [4]byte
	remote := c.RemoteAddr().String()
	mute := &connMute{}
	for {
		// A client over its quota was muted (quota.go): nothing more is
		// read from it until the throttle time has passed.
		if err := mute.wait(ctx, s.draining); err != nil {
			return err
		}
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			return err
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		minSize := int32(8)
		if ca.raw {
			minSize = 0 // a bare SASL token of the v0 flow
		}
		if size < minSize || size > s.cfg.MaxRequestBytes {
			s.metrics.badFrames.Inc()
			return fmt.Errorf("request size %d outside [8, %d]", size, s.cfg.MaxRequestBytes)
		}
		// Requests in progress on all connections together hold at most
		// QueuedMaxRequestBytes: past it the reader waits (the client's
		// bytes stay in its socket) until other requests finish.
		release, err := s.queued.acquire(ctx, int64(size), s.draining)
		if err != nil {
			return err
		}
		// A produce request's body may be kept by the read cache after
		// the response (its batches are the file's bytes): large ones are
		// huge-page advised, since they are often fresh memory.
		body := hugemem.Alloc(int(size))
		if _, err := io.ReadFull(br, body); err != nil {
			release()
			return err
		}
		var (
			req  *request
			r    reply
			busy time.Duration // dispatch's time, for the request quota
		)
		if ca.raw {
			req = &request{key: -1, received: time.Now(), remote: remote, principal: ca.principal, listener: ca.listener.Name}
			r = s.recovered(req, func() reply { return s.saslRawToken(ctx, ca, remote, body) })
		} else {
			var early kmsg.Response
			req, early, err = s.decode(body)
			if err != nil {
				release()
				s.metrics.badFrames.Inc()
				return err
			}
			req.received = time.Now()
			if err := ca.admit(req.key, req.received); err != nil {
				release()
				s.logger.Info("closing connection", "listener", ca.listener.Name, "remote", remote, "reason", err)
				return err
			}
			req.remote = remote
			req.principal = ca.principal
			req.listener = ca.listener.Name
			req.conn = ca
			req.source = src
			req.size, req.mute = int(size), mute
			if early != nil {
				r = ready(early)
			} else {
				start := time.Now()
				r = s.recovered(req, func() reply { return s.dispatch(ctx, req) })
				busy = time.Since(start)
				if r.resp != nil && !r.failed {
					s.audit(ctx, req, r.resp)
				}
				if r.wait == nil && !r.failed {
					s.requestTime(req, r.resp, busy-req.waited)
				}
			}
		}
		out := outbound{req: req, done: make(chan reply, 1)}
		if r.wait != nil {
			waits.Add(1)
			go func() {
				defer waits.Done()
				defer release()
				out.done <- s.recovered(req, func() reply {
					start := time.Now()
					resp := r.wait()
					s.requestTime(req, resp, busy+time.Since(start)-req.waited)
					return reply{resp: resp, none: r.none, closeConn: r.closeConn, raw: r.raw, rawBytes: r.rawBytes}
				})
			}()
		} else {
			release()
			out.done <- r
		}
		select {
		case queue <- out:
		case <-ctx.Done():
			return ctx.Err()
		}
		if r.closeConn || r.failed {
			return errCloseConn
		}
	}
}

// decode parses a request frame. For an ApiVersions request of a version
// this agent does not know it returns the KIP-511 fallback response instead
// of a request; for anything else it cannot serve it returns an error, and
// the connection is closed.
func (s *Server) decode(body []byte) (*request, kmsg.Response, error) {
	rd := kbin.Reader{Src: body}
	req := &request{key: rd.Int16(), version: rd.Int16(), correlationID: rd.Int32()}
	if id := rd.NullableString(); id != nil {
		req.clientID = *id
	}
	if !rd.Ok() {
		return nil, nil, errors.New("truncated request header")
	}
	api, known := supported[req.key]
	if !known {
		return nil, nil, fmt.Errorf("unsupported API key %d", req.key)
	}
	if req.version < api.min || req.version > api.max {
		if req.key == apiVersionsKey {
			return req, apiVersionsFallback(), nil
		}
		s.metrics.request(req.key, req.version)
		return nil, nil, fmt.Errorf("unsupported version %d of API key %d", req.version, req.key)
	}
	msg := kmsg.RequestForKey(req.key)
	msg.SetVersion(req.version)
	if msg.IsFlexible() {
		// Request header v2 ends with tagged fields; none are defined.
		for n := rd.Uvarint(); n > 0 && rd.Ok(); n-- {
			rd.Uvarint()
			rd.Span(int(rd.Uvarint()))
		}
		if !rd.Ok() {
			return nil, nil, errors.New("truncated request header tags")
		}
	}
	if err := msg.ReadFrom(rd.Src); err != nil {
		return nil, nil, fmt.Errorf("decode %s v%d: %w", kmsg.NameForKey(req.key), req.version, err)
	}
	req.msg = msg
	return req, nil, nil
}

func (s *Server) writeLoop(ctx context.Context, c net.Conn, queue <-chan outbound) {
	bw := bufio.NewWriterSize(c, 64<<10)
	var buf []byte
	// On TCP, a splicer's large byte ranges are written with writev from
	// where they lie; elsewhere (TLS) they are copied into the frame.
	_, vectored := c.(*net.TCPConn)
	var sp splices
	// Responses are buffered while the next one is already complete, so
	// pipelined responses share syscalls, and flushed before the loop
	// blocks: a response must never wait in the buffer for a later,
	// slower request (a produce request pipelined into the next flush).
	flushBeforeWait := func() bool {
		return bw.Buffered() == 0 || bw.Flush() == nil
	}
	for {
		var out outbound
		var ok bool
		select {
		case out, ok = <-queue:
		default:
			if !flushBeforeWait() {
				return
			}
			out, ok = <-queue
		}
		if !ok {
			break
		}
		var r reply
		select {
		case r = <-out.done:
		default:
			if !flushBeforeWait() {
				return
			}
			select {
			case r = <-out.done:
			case <-ctx.Done():
				return
			}
		}
		if out.req.key >= 0 {
			s.metrics.observe(out.req, time.Since(out.req.received))
		}
		if r.failed {
			bw.Flush() // the answers before it, then the connection closes
			return
		}
		if r.none {
			continue
		}
		if r.raw {
			buf = binary.BigEndian.AppendUint32(buf[:0], uint32(len(r.rawBytes)))
			if _, err := bw.Write(append(buf, r.rawBytes...)); err != nil {
				return
			}
			continue
		}
		var spliced splicer
		if vectored {
			spliced, _ = r.resp.(splicer)
		}
		if spliced == nil {
			var encoded bool
			if buf, encoded = s.encode(buf[:0], out.req, r.resp, nil); !encoded {
				bw.Flush() // the answers before it, then the connection closes
				return
			}
			if _, err := bw.Write(buf); err != nil {
				return
			}
			continue
		}
		if !s.writeSpliced(c, bw, &buf, &sp, out.req, r.resp, spliced) {
			return
		}
	}
	bw.Flush()
}

// writeSpliced encodes and writes resp, the splicer r: its byte ranges
// are sent from where they lie with the frame around them in one writev
// (after what bw holds), and released afterwards. It reports whether the
// connection may go on.
func (s *Server) writeSpliced(c net.Conn, bw *bufio.Writer, buf *[]byte, sp *splices, req *request, resp kmsg.Response, r splicer) bool {
	defer sp.reset() // keeps no references to the response's buffers
	defer r.release()
	sp.reset()
	var encoded bool
	if *buf, encoded = s.encode((*buf)[:0], req, resp, sp); !encoded {
		bw.Flush() // the answers before it, then the connection closes
		return false
	}
	if sp.n == 0 {
		_, err := bw.Write(*buf)
		return err == nil
	}
	if bw.Flush() != nil {
		return false
	}
	bufs := sp.buffers(*buf)
	_, err := bufs.WriteTo(c)
	return err == nil
}

// encoder is a response that encodes its own body, for one whose wire
// form is more than its kmsg fields (Fetch gives records shared with the
// block cache their offsets in the encoded copy) or that holds buffers
// until it is encoded. The writer calls appendBody, once, instead of
// AppendTo; an error means the response cannot be sent, and the
// connection is closed.
type encoder interface {
	appendBody(dst []byte) ([]byte, error)
}

// splicer is an encoder that can leave large byte ranges out of the
// encoded frame, for the writer to send from where they lie (one writev;
// see fetch_encode.go). The writer calls appendSpliced instead of
// appendBody, once, and release once the frame is written or will not be.
type splicer interface {
	encoder
	appendSpliced(dst []byte, sp *splices) ([]byte, error)
	release()
}

// encode frames a response with appendResponse, recovering from a panic
// while encoding (a handler's malformed response): an encoding that
// panicked or failed is logged (a panic also counted), ok is false, and the
// writer closes the connection.
func (s *Server) encode(dst []byte, req *request, resp kmsg.Response, sp *splices) (out []byte, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			s.metrics.panics.Inc()
			s.logger.Error("encoding a response panicked; closing the connection", "api", kmsg.NameForKey(req.key), "version", req.version,
				"remote", req.remote, "panic", p, "stack", string(debug.Stack()))
			out, ok = dst, false
		}
	}()
	out, err := appendResponse(dst, req, resp, sp)
	if err != nil {
		s.logger.Error("response not written; closing the connection", "api", kmsg.NameForKey(req.key), "err", err)
		return out, false
	}
	return out, true
}

// appendResponse frames a response: size, correlation ID, the flexible
// header's empty tag section (never for ApiVersions, whose response header
// is always v0), then the body. With sp, a splicer's body leaves its large
// byte ranges out into sp (the size counts them); the caller releases it.
func appendResponse(dst []byte, req *request, resp kmsg.Response, sp *splices) ([]byte, error) {
	dst = append(dst, 0, 0, 0, 0)
	dst = kbin.AppendInt32(dst, req.correlationID)
	if resp.IsFlexible() && req.key != apiVersionsKey {
		dst = append(dst, 0)
	}
	left := 0
	if sr, ok := resp.(splicer); ok && sp != nil {
		var err error
		if dst, err = sr.appendSpliced(dst, sp); err != nil {
			return dst, err
		}
		left = sp.n
	} else if e, ok := resp.(encoder); ok {
		var err error
		if dst, err = e.appendBody(dst); err != nil {
			return dst, err
		}
	} else {
		dst = resp.AppendTo(dst)
	}
	binary.BigEndian.PutUint32(dst, uint32(len(dst)-4+left))
	return dst, nil
}
