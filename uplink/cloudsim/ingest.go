package cloudsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"
)

// IngestOptions configures the simulated RTMP media server.
type IngestOptions struct {
	// TLS makes the ingest speak RTMPS with a self-signed certificate
	// generated at Start (see CertPool).
	TLS bool
	// Apps lists the RTMP applications that accept publishes. Default ["live"].
	Apps []string
	// Authorize, if set, decides each publish like the cloud checks the
	// sid/psid in the stream name; an error refuses it (NetStream.Publish.Unauthorized).
	Authorize func(app, stream string, query url.Values) error
	// ReadTimeout drops a connection that sends nothing for this long. Default 10 s.
	ReadTimeout time.Duration
	// MaxFrames caps the frames kept per publish (counters go on). Default 100000.
	MaxFrames int
	// OnFrame, if set, sees every media frame of an accepted publish as it
	// arrives, on the connection's goroutine; stream is the publish's
	// Stream. For measurements over a window beyond MaxFrames.
	OnFrame func(stream string, f FrameRecord)
}

// FrameRecord is one media frame the ingest received.
type FrameRecord struct {
	Video bool
	// DTS is the RTMP timestamp (millisecond resolution).
	DTS time.Duration
	// Key is the FLV key-frame flag (video only; for enhanced-RTMP HEVC,
	// which has no usable flag, whether the frame holds an IRAP picture).
	Key  bool
	Size int
	// At is when the ingest had read the whole message.
	At time.Time
}

// PublishRecord is what the ingest saw of one RTMP connection. Slices and
// maps in a returned record are shared and must not be modified.
type PublishRecord struct {
	// ID numbers connections from 1 in accept order.
	ID     int
	Remote string
	// App and TCURL come from the connect command.
	App, TCURL string
	// Name is the publish name as sent, including "?query"; Stream is the
	// part before '?', Query the parsed rest.
	Name   string
	Stream string
	Query  url.Values
	// Type is the publish type argument ("live").
	Type string
	// Accepted is true once NetStream.Publish.Start was sent; Rejected
	// names the reason the ingest refused the connection or publish.
	Accepted bool
	Rejected string
	// Active is true while the publish connection is open.
	Active bool
	// Ended says why an accepted publish ended.
	Ended string

	Metadata               bool   // onMetaData received
	VideoCodec, AudioCodec string // "H.264", "H.265", "AAC", "G711A", "G711U"
	VPS, SPS, PPS          []byte // from the latest video sequence header
	AACConfig              []byte // AudioSpecificConfig from the latest AAC sequence header
	VideoHeaders           int    // video sequence headers received
	AudioHeaders           int    // AAC sequence headers received

	VideoFrames, AudioFrames int
	Bytes                    int64 // media payload bytes
	// FirstVideoKey reports whether the first video frame was a key frame.
	FirstVideoKey bool
	// Monotonic stays true while no track's timestamps went backwards.
	// Each track counts on its own: like nginx-rtmp, FFmpeg and the cloud,
	// the ingest takes audio a little behind or ahead of video, which is
	// how go2rtc, mediamtx and camagent send a camera's stream.
	Monotonic bool
	// Violations lists protocol mistakes (frames before sequence headers,
	// Annex-B payloads, key flags that disagree with the picture).
	Violations []string
	Frames     []FrameRecord
}

// Ingest is an in-process RTMP(S) media server that accepts publishes the
// way the cloud's does (docs/protocol.md#stream-start) and records everything it receives.
type Ingest struct {
	opts IngestOptions

	ln      net.Listener
	certPEM []byte
	pool    *x509.CertPool
	wg      sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	nextID  int
	records []*PublishRecord
	conns   map[net.Conn]*PublishRecord
	changed chan struct{} // closed and replaced on every change while waiters exist
	waiters int
}

// NewIngest returns an ingest; call Start.
func NewIngest(opts IngestOptions) *Ingest {
	if len(opts.Apps) == 0 {
		opts.Apps = []string{"live"}
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = 10 * time.Second
	}
	if opts.MaxFrames <= 0 {
		opts.MaxFrames = 100000
	}
	return &Ingest{opts: opts, conns: map[net.Conn]*PublishRecord{}, changed: make(chan struct{})}
}

// Start listens on 127.0.0.1:0 and serves in the background.
func (i *Ingest) Start() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("ingest listen: %w", err)
	}
	if i.opts.TLS {
		cert, certPEM, err := selfSigned("cloudsim ingest")
		if err != nil {
			ln.Close()
			return fmt.Errorf("ingest certificate: %w", err)
		}
		i.certPEM = certPEM
		i.pool = x509.NewCertPool()
		i.pool.AppendCertsFromPEM(certPEM)
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	i.ln = ln
	i.wg.Add(1)
	go i.acceptLoop()
	return nil
}

// Addr is the listening host:port.
func (i *Ingest) Addr() string { return i.ln.Addr().String() }

// URL is the media server as the cloud would announce it: rtmp[s]://host:port.
func (i *Ingest) URL() string {
	if i.opts.TLS {
		return "rtmps://" + i.Addr()
	}
	return "rtmp://" + i.Addr()
}

// CertPEM is the self-signed certificate of a TLS ingest (nil otherwise).
func (i *Ingest) CertPEM() []byte { return i.certPEM }

// CertPool holds the TLS ingest's certificate, for a client's RootCAs.
func (i *Ingest) CertPool() *x509.CertPool { return i.pool }

// Close stops listening, drops every connection and waits for the handlers.
func (i *Ingest) Close() {
	i.mu.Lock()
	i.closed = true
	for c := range i.conns {
		c.Close()
	}
	i.mu.Unlock()
	if i.ln != nil {
		i.ln.Close()
	}
	i.wg.Wait()
}

// DropPublishers closes every active publish connection, like a media
// server restart, and returns how many it closed. The records are marked
// inactive at once, so a reconnect is not refused as a duplicate.
func (i *Ingest) DropPublishers() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	n := 0
	for c, rec := range i.conns {
		if rec != nil && rec.Active {
			rec.Active = false
			rec.Ended = "dropped by ingest"
			c.Close()
			n++
		}
	}
	i.notifyLocked()
	return n
}

// Publishes returns a snapshot of every connection that sent connect.
func (i *Ingest) Publishes() []PublishRecord {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.snapshotLocked()
}

func (i *Ingest) snapshotLocked() []PublishRecord {
	out := make([]PublishRecord, len(i.records))
	for k, r := range i.records {
		out[k] = *r
	}
	return out
}

// WaitFor blocks until cond holds for the current records or ctx ends.
func (i *Ingest) WaitFor(ctx context.Context, cond func([]PublishRecord) bool) error {
	i.mu.Lock()
	i.waiters++
	defer func() {
		i.mu.Lock()
		i.waiters--
		i.mu.Unlock()
	}()
	for {
		if cond(i.snapshotLocked()) {
			i.mu.Unlock()
			return nil
		}
		ch := i.changed
		i.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("ingest wait: %w", ctx.Err())
		}
		i.mu.Lock()
	}
}

// WaitFrames waits until accepted publishes received n video frames in total.
func (i *Ingest) WaitFrames(ctx context.Context, n int) error {
	return i.WaitFor(ctx, func(rs []PublishRecord) bool {
		total := 0
		for _, r := range rs {
			total += r.VideoFrames
		}
		return total >= n
	})
}

func (i *Ingest) notifyLocked() {
	if i.waiters > 0 {
		close(i.changed)
		i.changed = make(chan struct{})
	}
}

func (i *Ingest) acceptLoop() {
	defer i.wg.Done()
	for {
		c, err := i.ln.Accept()
		if err != nil {
			return
		}
		i.mu.Lock()
		if i.closed {
			i.mu.Unlock()
			c.Close()
			return
		}
		i.conns[c] = nil
		i.wg.Add(1)
		i.mu.Unlock()
		go func() {
			defer i.wg.Done()
			i.serve(c)
			i.mu.Lock()
			delete(i.conns, c)
			i.mu.Unlock()
		}()
	}
}
