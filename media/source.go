package media

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"
	"go.uber.org/zap"
)

// Errors a Source's caller branches on; match with errors.Is.
var (
	// ErrUnauthorized: the camera answered 401 (missing or wrong credentials).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrUnreachable: the camera's RTSP port could not be reached.
	ErrUnreachable = errors.New("unreachable")
	// ErrUnsupportedCodec: the camera offers no track the agent can carry.
	ErrUnsupportedCodec = errors.New("unsupported codec")
	// ErrStalled: the session stayed open but no frame came for StallTimeout.
	ErrStalled = errors.New("stream stalled")
	// ErrNoSession: the camera answered 453 Not Enough Bandwidth or 503
	// Service Unavailable to DESCRIBE or SETUP: all its streaming sessions
	// are taken (by an NVR, a viewer), or it is still starting.
	ErrNoSession = errors.New("no free streaming session")
)

// DefaultStallTimeout is used when SourceOptions.StallTimeout is zero.
const DefaultStallTimeout = 10 * time.Second

// rtspReadBuffer sits between the camera's TCP connection and gortsplib,
// which reads through a 4 KiB buffer: a read syscall for every three RTP
// packets. This buffer takes a frame's burst of packets in one syscall.
const rtspReadBuffer = 32 << 10

// Transport is the RTP transport of an RTSP session.
type Transport int

// Transports. TCP (interleaved) is the default: it crosses NAT and firewalls
// and does not lose packets on busy links.
const (
	TransportTCP Transport = iota
	TransportUDP
)

// String returns "tcp" or "udp", the spelling ParseTransport accepts.
func (t Transport) String() string {
	if t == TransportUDP {
		return "udp"
	}
	return "tcp"
}

// ParseTransport parses "tcp" or "udp" (case-insensitive; "" means tcp).
func ParseTransport(s string) (Transport, error) {
	switch strings.ToLower(s) {
	case "", "tcp":
		return TransportTCP, nil
	case "udp":
		return TransportUDP, nil
	}
	return 0, fmt.Errorf("unknown rtsp transport %q (want tcp or udp)", s)
}

// SourceOptions configures one camera stream pull.
type SourceOptions struct {
	// URL is the RTSP URL; credentials in its userinfo are used unless
	// Username is set.
	URL string
	// Username and Password override the URL's userinfo.
	Username, Password string
	Transport          Transport
	// StallTimeout ends Run when no frame arrives for this long; default 10 s.
	StallTimeout time.Duration
	Log          *zap.Logger
}

// Source pulls one RTSP stream into a Stream. Run makes one session; the
// caller retries.
type Source struct {
	opts   SourceOptions
	stream *Stream
	log    *zap.Logger
}

// NewSource returns a Source that feeds stream.
func NewSource(opts SourceOptions, stream *Stream) *Source {
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = DefaultStallTimeout
	}
	log := opts.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &Source{opts: opts, stream: stream, log: log}
}

// Run runs one RTSP session (DESCRIBE, SETUP, PLAY) until it fails, stalls
// or ctx is cancelled (then it returns nil). Errors wrap ErrUnauthorized,
// ErrUnreachable, ErrUnsupportedCodec, ErrStalled or ErrNoSession where
// they apply.
func (s *Source) Run(ctx context.Context) error {
	u, err := base.ParseURL(s.opts.URL)
	if err != nil {
		return fmt.Errorf("rtsp: parse url: %w", err)
	}
	if s.opts.Username != "" {
		u.User = url.UserPassword(s.opts.Username, s.opts.Password)
	}
	proto := gortsplib.ProtocolTCP
	if s.opts.Transport == TransportUDP {
		proto = gortsplib.ProtocolUDP
	}
	sess := &session{src: s}
	c := &gortsplib.Client{
		Scheme:      u.Scheme,
		Host:        u.Host,
		Protocol:    &proto,
		DialContext: dialBuffered,
		OnPacketsLost: func(lost uint64) {
			sess.lost.Add(lost)
		},
		OnDecodeError: func(error) {
			sess.decodeErrors.Add(1)
		},
	}
	if err := c.Start(); err != nil {
		return fmt.Errorf("rtsp: start client: %w", err)
	}
	// Close unblocks any request in flight when ctx ends.
	stop := context.AfterFunc(ctx, c.Close)
	defer func() {
		stop()
		c.Close()
	}()
	sess.c = c

	desc, _, err := c.Describe(u)
	if err != nil {
		return s.fail(ctx, "describe", err)
	}
	if err := sess.setup(desc); err != nil {
		return s.fail(ctx, "setup", err)
	}
	// After PLAY the callbacks own sess.video/audio; log what SETUP chose now.
	videoCodec, audioCodec := codecOf(sess.video), codecOf(sess.audio)
	sess.lastUnit.Store(time.Now().UnixNano())
	if _, err := c.Play(nil); err != nil {
		return s.fail(ctx, "play", err)
	}
	s.log.Info("rtsp playing", zap.String("transport", s.opts.Transport.String()),
		zap.Stringer("video", videoCodec), zap.Stringer("audio", audioCodec))

	waitc := make(chan error, 1)
	go func() { waitc <- c.Wait() }()
	defer func() {
		c.Close()
		<-waitc
	}()

	tick := time.NewTicker(min(s.opts.StallTimeout/4, time.Second))
	defer tick.Stop()
	var reportedLost, reportedErrs uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-waitc:
			waitc <- err // for the deferred join
			return s.fail(ctx, "read", err)
		case now := <-tick.C:
			if idle := now.Sub(time.Unix(0, sess.lastUnit.Load())); idle > s.opts.StallTimeout {
				return fmt.Errorf("rtsp: no frame for %v: %w", idle.Round(time.Millisecond), ErrStalled)
			}
			// Count on the hot path, report at most once per tick.
			lost, errs := sess.lost.Load(), sess.decodeErrors.Load()
			if lost != reportedLost || errs != reportedErrs {
				s.log.Warn("rtp losses", zap.Uint64("packets_lost", lost), zap.Uint64("decode_errors", errs))
				reportedLost, reportedErrs = lost, errs
			}
		}
	}
}

// dialBuffered dials TCP and puts a rtspReadBuffer-sized read buffer in
// front of the connection.
func dialBuffered(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, rtspReadBuffer)}, nil
}

// bufferedConn is a net.Conn whose reads go through a buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// fail classifies err from step into the typed errors; nil when ctx ended.
func (s *Source) fail(ctx context.Context, step string, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	var bad liberrors.ErrClientBadStatusCode
	if errors.As(err, &bad) {
		switch bad.Code {
		case base.StatusUnauthorized:
			return fmt.Errorf("rtsp %s: %w: %w", step, ErrUnauthorized, err)
		case base.StatusNotEnoughBandwidth, base.StatusServiceUnavailable:
			return fmt.Errorf("rtsp %s: %w: %w", step, ErrNoSession, err)
		}
	}
	var op *net.OpError
	var dns *net.DNSError
	if (errors.As(err, &op) && op.Op == "dial") || errors.As(err, &dns) {
		return fmt.Errorf("rtsp %s: %w: %w", step, ErrUnreachable, err)
	}
	return fmt.Errorf("rtsp %s: %w", step, err)
}

func codecOf(t *Track) Codec {
	if t == nil {
		return CodecUnknown
	}
	return t.Codec
}

// session is the per-RTSP-session state: decoders and current tracks. Each
// media's callback touches only its own fields.
type session struct {
	src          *Source
	c            *gortsplib.Client
	video, audio *Track
	lastUnit     atomic.Int64 // unix nanos of the last unit handed to the stream
	lost         atomic.Uint64
	decodeErrors atomic.Uint64
}

// setup picks the first usable video and audio format, publishes their
// tracks on the stream and SETUPs them.
func (ss *session) setup(desc *description.Session) error {
	var vMedia, aMedia *description.Media
	var vFormat, aFormat format.Format
	var offered []string
	for _, m := range desc.Medias {
		if m.IsBackChannel {
			continue
		}
		for _, f := range m.Formats {
			offered = append(offered, f.Codec())
			if t := trackFor(f); t != nil {
				if t.Codec.IsVideo() && vMedia == nil {
					vMedia, vFormat, ss.video = m, f, t
				} else if !t.Codec.IsVideo() && aMedia == nil {
					aMedia, aFormat, ss.audio = m, f, t
				}
			}
		}
	}
	if vMedia == nil && aMedia == nil {
		return fmt.Errorf("offered %v: %w", offered, ErrUnsupportedCodec)
	}
	ss.video, ss.audio = ss.src.stream.beginSession(ss.video, ss.audio)
	for _, p := range []struct {
		m *description.Media
		f format.Format
	}{{vMedia, vFormat}, {aMedia, aFormat}} {
		if p.m == nil {
			continue
		}
		cb, err := ss.callback(p.m, p.f)
		if err != nil {
			return err
		}
		if _, err := ss.c.Setup(desc.BaseURL, p.m, 0, 0); err != nil {
			return err
		}
		ss.c.OnPacketRTP(p.m, p.f, cb)
	}
	return nil
}

// trackFor describes a format the agent can carry, or returns nil.
func trackFor(f format.Format) *Track {
	switch f := f.(type) {
	case *format.H264:
		return newVideoTrack(CodecH264, f.ClockRate(), ParamSets{SPS: f.SPS, PPS: f.PPS})
	case *format.H265:
		return newVideoTrack(CodecH265, f.ClockRate(), ParamSets{VPS: f.VPS, SPS: f.SPS, PPS: f.PPS})
	case *format.MPEG4Audio:
		if f.Config == nil {
			return nil
		}
		cfg, err := f.Config.Marshal()
		if err != nil {
			return nil
		}
		ch := f.Config.ChannelCount
		if ch == 0 {
			ch = int(f.Config.ChannelConfig)
		}
		return &Track{Codec: CodecAAC, ClockRate: f.ClockRate(), Config: cfg,
			SampleRate: f.Config.SampleRate, Channels: ch}
	case *format.G711:
		c := CodecG711A
		if f.MULaw {
			c = CodecG711U
		}
		return &Track{Codec: c, ClockRate: f.ClockRate(), SampleRate: f.SampleRate, Channels: f.ChannelCount}
	case *format.Opus:
		return &Track{Codec: CodecOpus, ClockRate: f.ClockRate(), SampleRate: 48000, Channels: f.ChannelCount}
	}
	return nil
}

// durationOf converts a timestamp in clock-rate units without overflowing.
func durationOf(v int64, clockRate int) time.Duration {
	cr := int64(clockRate)
	return time.Duration(v/cr)*time.Second + time.Duration(v%cr)*time.Second/time.Duration(cr)
}

// callback builds the RTP callback for one media. It only depacketizes and
// hands units to the stream.
func (ss *session) callback(m *description.Media, f format.Format) (func(*rtp.Packet), error) {
	switch f := f.(type) {
	case *format.H264:
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, err
		}
		v := &videoState{ss: ss, codec: CodecH264}
		return depacketize(ss, m, dec.Decode, func(err error) bool {
			return errors.Is(err, rtph264.ErrMorePacketsNeeded) || errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious)
		}, v.handle), nil
	case *format.H265:
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, err
		}
		v := &videoState{ss: ss, codec: CodecH265}
		return depacketize(ss, m, dec.Decode, func(err error) bool {
			return errors.Is(err, rtph265.ErrMorePacketsNeeded) || errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious)
		}, v.handle), nil
	case *format.MPEG4Audio:
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, err
		}
		return depacketize(ss, m, dec.Decode, nil, ss.audioUnit), nil
	case *format.G711:
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, err
		}
		return depacketize(ss, m, dec.Decode, nil, ss.audioFrame), nil
	case *format.Opus:
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, err
		}
		return depacketize(ss, m, dec.Decode, nil, ss.audioFrame), nil
	}
	return nil, fmt.Errorf("format %s: %w", f.Codec(), ErrUnsupportedCodec)
}

// depacketize makes the RTP callback of one media: time every packet, decode
// it, count real decode errors (not "need more packets", which benign
// reports) and hand complete units on.
func depacketize[T any](ss *session, m *description.Media, decode func(*rtp.Packet) (T, error),
	benign func(error) bool, deliver func(pts int64, unit T)) func(*rtp.Packet) {
	return func(pkt *rtp.Packet) {
		// Every packet goes through the time decoder, which keys on
		// packet contents (e.g. the first IDR fragment) to start.
		pts, ok := ss.c.PacketPTS(m, pkt)
		if !ok {
			return
		}
		u, err := decode(pkt)
		if err != nil {
			if benign == nil || !benign(err) {
				ss.decodeErrors.Add(1)
			}
			return
		}
		deliver(pts, u)
	}
}

// audioFrame delivers codecs whose RTP packet carries one frame.
func (ss *session) audioFrame(pts int64, frame []byte) { ss.audioUnit(pts, [][]byte{frame}) }

func (ss *session) audioUnit(pts int64, frames [][]byte) {
	if len(frames) == 0 {
		return
	}
	now := time.Now()
	d := durationOf(pts, ss.audio.ClockRate)
	ss.src.stream.write(&Unit{Track: ss.audio, PTS: d, DTS: d, Frames: frames, Wall: now})
	ss.lastUnit.Store(now.UnixNano())
}

// videoState follows in-band parameter sets and computes DTS. Units are
// dropped until the first random-access point, which the DTS extractor and
// every decoder need.
type videoState struct {
	ss      *session
	codec   Codec
	h264DTS *h264.DTSExtractor
	h265DTS *h265.DTSExtractor
}

func (v *videoState) handle(pts int64, au [][]byte) {
	ss := v.ss
	key := isRandomAccess(v.codec, au)
	v.updateParamSets(au)

	if v.h264DTS == nil && v.h265DTS == nil {
		if !key {
			return
		}
		if v.codec == CodecH264 {
			v.h264DTS = &h264.DTSExtractor{}
			v.h264DTS.Initialize()
		} else {
			v.h265DTS = &h265.DTSExtractor{}
			v.h265DTS.Initialize()
		}
	}
	var dts int64
	var err error
	if v.h264DTS != nil {
		dts, err = v.h264DTS.Extract(au, pts)
	} else {
		dts, err = v.h265DTS.Extract(au, pts)
	}
	if err != nil {
		// Start over at the next key frame.
		ss.decodeErrors.Add(1)
		v.h264DTS, v.h265DTS = nil, nil
		return
	}
	now := time.Now()
	ss.src.stream.write(&Unit{
		Track: ss.video,
		PTS:   durationOf(pts, ss.video.ClockRate),
		DTS:   durationOf(dts, ss.video.ClockRate),
		Key:   key,
		NALUs: au,
		Wall:  now,
	})
	ss.lastUnit.Store(now.UnixNano())
}

// updateParamSets publishes a new track when in-band parameter sets differ
// from the current ones (allocation only on change).
func (v *videoState) updateParamSets(au [][]byte) {
	t := v.ss.video
	cur := t.ParamSets()
	ps := cur.Update(v.codec, au)
	if ps.Equal(cur) {
		return
	}
	v.ss.video = v.ss.src.stream.setTrack(newVideoTrack(v.codec, t.ClockRate, ps))
}
