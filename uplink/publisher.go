package uplink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"go.uber.org/zap"

	"github.com/camagent/camagent/media"
)

// UnitReader is the part of a media stream reader the publisher consumes:
// Read blocks until the next access unit or ctx ends.
type UnitReader interface {
	Read(ctx context.Context) (*media.Unit, error)
	Close()
}

// PublisherOptions configures one RTMP(S) publish.
type PublisherOptions struct {
	// URL is the full publish URL of docs/protocol.md#publish-url, e.g.
	// rtmp://host:1935/live/u1_Main?sid=X&psid=7.
	URL string
	// Source delivers the access units to publish. The publisher does not close it.
	Source UnitReader
	// TLSConfig is used for rtmps. nil means system roots with host name
	// verification; verification is only off if the caller sets InsecureSkipVerify.
	TLSConfig *tls.Config
	// Dial opens the TCP connection (e.g. through a SOCKS proxy). nil = net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// HandshakeTimeout bounds TCP+TLS+RTMP connect+publish. Default 10 s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds one write (the frames read at one wake-up, at
	// most maxBatch bytes); a server that stops reading for this long is
	// treated as gone. Default 10 s.
	WriteTimeout time.Duration
	// OnStarted, if set, is called once from Run when the server accepted the publish.
	OnStarted func()
	// Logger; nil means no logging.
	Logger *zap.Logger
}

// PublisherStats are cumulative counters of one publisher.
type PublisherStats struct {
	// VideoFrames and AudioFrames are the video access units and audio
	// frames written to the server.
	VideoFrames, AudioFrames uint64
	// Bytes is the media payload written, excluding RTMP framing.
	Bytes uint64
	// Drops counts units and audio frames not sent: before the first key
	// frame, with an unsupported codec, without a usable sequence header,
	// or audio whose timestamp went back (see Backwards).
	Drops uint64
	// Backwards counts frames whose DTS went back on their own track: a
	// video frame is sent at its track's previous timestamp (dropping it
	// would break the frames that refer to it), an audio frame is dropped.
	Backwards uint64
}

// ErrUnsupportedScheme means the publish URL is not rtmp:// or rtmps://.
var ErrUnsupportedScheme = errors.New("publish url scheme is not rtmp or rtmps")

// Publisher pushes one media stream to an RTMP(S) server as FLV, without
// transcoding (docs/protocol.md#stream-start).
type Publisher struct {
	opts PublisherOptions
	log  *zap.Logger

	started   chan struct{}
	startOnce sync.Once
	ran       atomic.Bool

	videoFrames, audioFrames, bytes, drops, backwards atomic.Uint64
}

// NewPublisher returns a publisher; nothing happens until Run.
func NewPublisher(opts PublisherOptions) *Publisher {
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Publisher{opts: opts, log: log, started: make(chan struct{})}
}

// Started is closed once the server accepted the publish (onStatus
// NetStream.Publish.Start); stream_start may then be answered OK.
func (p *Publisher) Started() <-chan struct{} { return p.started }

// Stats returns the counters; safe to call from any goroutine.
func (p *Publisher) Stats() PublisherStats {
	return PublisherStats{VideoFrames: p.videoFrames.Load(), AudioFrames: p.audioFrames.Load(), Bytes: p.bytes.Load(),
		Drops: p.drops.Load(), Backwards: p.backwards.Load()}
}

// publishTarget is a publish URL split the way docs/protocol.md#publish-url (and FFmpeg) does.
type publishTarget struct {
	scheme, host string
	app          string // first path segment
	name         string // rest of the path plus "?query"
}

func (t publishTarget) tcURL() string { return t.scheme + "://" + t.host + "/" + t.app }

// parsePublishURL splits raw into app, tcUrl and stream name. The stream
// name keeps the query string because the cloud authorises the publish by
// the sid/psid in it.
func parsePublishURL(raw string) (publishTarget, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return publishTarget{}, fmt.Errorf("parse publish url: %w", err)
	}
	if u.Scheme != "rtmp" && u.Scheme != "rtmps" {
		return publishTarget{}, fmt.Errorf("%w: %q", ErrUnsupportedScheme, u.Scheme)
	}
	if u.Host == "" {
		return publishTarget{}, errors.New("publish url has no host")
	}
	path := strings.TrimPrefix(u.EscapedPath(), "/")
	app, name, _ := strings.Cut(path, "/")
	if app == "" || name == "" {
		return publishTarget{}, fmt.Errorf("publish url path %q needs app/stream", u.Path)
	}
	if u.RawQuery != "" {
		name += "?" + u.RawQuery
	}
	return publishTarget{scheme: u.Scheme, host: u.Host, app: app, name: name}, nil
}

// clientURL encodes t for gortmplib, which takes the app from the path
// and the publish name from the fragment.
func (t publishTarget) clientURL() *url.URL {
	return &url.URL{Scheme: t.scheme, Host: t.host, Path: "/" + t.app, Fragment: t.name}
}

// Run makes one RTMP connection and publishes until the connection fails
// (error) or ctx ends (nil). Run may be called only once per Publisher.
func (p *Publisher) Run(ctx context.Context) error {
	if !p.ran.CompareAndSwap(false, true) {
		return errors.New("publisher already ran")
	}
	target, err := parsePublishURL(p.opts.URL)
	if err != nil {
		return err
	}
	client := &gortmplib.Client{
		URL:         target.clientURL(),
		Publish:     true,
		TLSConfig:   p.opts.TLSConfig,
		DialContext: p.opts.Dial,
	}
	hctx, hcancel := context.WithTimeout(ctx, p.opts.HandshakeTimeout)
	err = client.Initialize(hctx)
	hcancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("rtmp publish to %s/%s: %w", target.tcURL(), streamNameForLog(target.name), err)
	}
	conn := client.NetConn()
	defer client.Close()

	p.startOnce.Do(func() {
		close(p.started)
		if p.opts.OnStarted != nil {
			p.opts.OnStarted()
		}
	})
	p.log.Info("rtmp publish started", zap.String("tc_url", target.tcURL()),
		zap.String("name", streamNameForLog(target.name)))

	// The server's acks, pings and status messages are not needed once
	// publishing, but they must be read so the server never blocks on a
	// full socket; reading also notices a closed connection at once.
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := io.Copy(io.Discard, conn)
		if err == nil {
			err = io.EOF
		}
		cancel(fmt.Errorf("server closed connection: %w", err))
	})

	err = p.pump(runCtx, client, conn)
	conn.Close()
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	if cause := context.Cause(runCtx); cause != nil && errors.Is(err, context.Canceled) {
		err = cause
	}
	return fmt.Errorf("rtmp publish: %w", err)
}

// streamNameForLog hides the query (sid) of a publish name: it
// authorises the publish and is treated as a secret.
func streamNameForLog(name string) string {
	n, _, _ := strings.Cut(name, "?")
	return n
}

// muxer is the per-connection FLV state. It is owned by Run's goroutine.
type muxer struct {
	p      *Publisher
	client *gortmplib.Client
	conn   net.Conn

	video     media.VideoHeaders // which video track the sequence header was sent for
	audio     *media.Track       // track whose AAC sequence header was sent
	lastAudio *media.Track       // latest audio track seen, also before the first key frame
	started   bool
	base      time.Duration // DTS of the first key frame
	// Last timestamp sent per track (video, audio), for monotonicity.
	// Each track is monotonic on its own: frames go out as they come, so
	// audio may sit a little behind or ahead of video in the byte stream,
	// as go2rtc, mediamtx and FFmpeg send it and FLV readers accept.
	lastVideo, lastAudioTS time.Duration

	head   [8]byte
	chunks chunkWriter
	// Frames and payload bytes in chunks not yet written; they count in
	// the stats once written.
	pendVideo, pendAudio, pendBytes uint64

	warned map[media.Codec]bool
}

// queueLen is implemented by sources that can say how many units wait
// (media.Reader): the publisher then writes everything one wake-up brought
// with one syscall. With other sources it writes after every unit.
type queueLen interface {
	Queued() int
}

func (p *Publisher) pump(ctx context.Context, client *gortmplib.Client, conn net.Conn) error {
	m := &muxer{p: p, client: client, conn: conn, chunks: newChunkWriter(conn), warned: map[media.Codec]bool{}}
	q, _ := p.opts.Source.(queueLen)
	for {
		u, err := p.opts.Source.Read(ctx)
		if err != nil {
			return fmt.Errorf("read source: %w", err)
		}
		if u.Track == nil {
			p.drops.Add(1)
			continue
		}
		// Each unit goes out as it comes: holding video until audio of a
		// later DTS arrives (to interleave the tracks) cost tens of
		// milliseconds per frame, and no ingest needs it.
		if err := m.write(u); err != nil {
			return err
		}
		if q == nil || q.Queued() == 0 || m.chunks.pending() >= maxBatch {
			if err := m.flush(); err != nil {
				return err
			}
		}
	}
}

// flush writes the frames buffered in chunks and counts them.
func (m *muxer) flush() error {
	if m.chunks.pending() == 0 {
		return nil
	}
	if err := m.deadline(); err != nil {
		return err
	}
	if err := m.chunks.flush(); err != nil {
		return fmt.Errorf("write frames: %w", err)
	}
	m.p.videoFrames.Add(m.pendVideo)
	m.p.audioFrames.Add(m.pendAudio)
	m.p.bytes.Add(m.pendBytes)
	m.pendVideo, m.pendAudio, m.pendBytes = 0, 0, 0
	return nil
}

// room flushes the buffered frames first when a message with an n-byte
// body would take the buffer past maxBatch, so the buffer each stream
// keeps stays near maxBatch or its largest single frame.
func (m *muxer) room(n int) error {
	if p := m.chunks.pending(); p > 0 && p+n > maxBatch {
		return m.flush()
	}
	return nil
}

// writeMessage sends a message through gortmplib (metadata, sequence
// headers) after the frames buffered before it.
func (m *muxer) writeMessage(msg message.Message) error {
	if err := m.flush(); err != nil {
		return err
	}
	if err := m.deadline(); err != nil {
		return err
	}
	return m.client.Write(msg)
}

// timestamp maps a DTS to RTMP milliseconds from stream start. Both tracks
// share the base, so audio and video captured at the same instant get the
// same timestamp. ok is false when dts goes back before last, the track's
// previous timestamp, or before the stream start; ts is then last.
func (m *muxer) timestamp(dts, last time.Duration) (ts time.Duration, ok bool) {
	if dts < m.base {
		return last, false
	}
	ts = (dts - m.base).Truncate(time.Millisecond)
	if ts < last {
		return last, false
	}
	return ts, true
}

func (m *muxer) deadline() error {
	return m.conn.SetWriteDeadline(time.Now().Add(m.p.opts.WriteTimeout))
}

func (m *muxer) write(u *media.Unit) error {
	codec := u.Track.Codec
	if codec.IsVideo() {
		return m.writeVideo(u)
	}
	m.lastAudio = u.Track
	if !m.started {
		m.p.drops.Add(1)
		return nil
	}
	switch codec {
	case media.CodecAAC, media.CodecG711U, media.CodecG711A:
		return m.writeAudio(u)
	default:
		m.unsupported(codec)
		return nil
	}
}

func (m *muxer) unsupported(c media.Codec) {
	m.p.drops.Add(uint64(1))
	if !m.warned[c] {
		m.warned[c] = true
		m.p.log.Warn("codec not publishable over rtmp, dropping", zap.Stringer("codec", c))
	}
}

func (m *muxer) writeVideo(u *media.Unit) error {
	// A new track (the first one, or new SPS after a camera reconnect)
	// needs fresh sequence headers, which only make sense at a key frame.
	need, ok := m.video.Check(u)
	if !ok {
		m.p.drops.Add(1)
		return nil
	}
	if need {
		if !m.started {
			m.base = u.DTS
		}
		if err := m.writeHeaders(u); err != nil {
			if errors.Is(err, errNoParameterSets) || errors.Is(err, errUnsupportedVideo) {
				m.p.drops.Add(1)
				return nil
			}
			return err
		}
		m.started = true
	}
	ts, ok := m.timestamp(u.DTS, m.lastVideo)
	if !ok {
		m.p.backwards.Add(1)
	}
	m.lastVideo = ts
	cts := max(u.PTS-u.DTS, 0).Truncate(time.Millisecond)
	c := uint32(cts / time.Millisecond)
	head := m.head[:0]
	if u.Track.Codec == media.CodecH265 {
		// Enhanced RTMP: ex-header bit, frame type, CodedFrames, FourCC, CTS.
		ft := byte(2)
		if u.Key {
			ft = 1
		}
		head = append(head, 0x80|ft<<4|byte(message.VideoExTypeCodedFrames), 'h', 'v', 'c', '1')
	} else {
		ft := byte(2)
		if u.Key {
			ft = 1
		}
		head = append(head, ft<<4|message.CodecH264, byte(message.VideoTypeAU))
	}
	head = append(head, byte(c>>16), byte(c>>8), byte(c))
	size := 0
	for _, n := range u.NALUs {
		size += 4 + len(n)
	}
	if err := m.room(len(head) + size); err != nil {
		return err
	}
	m.chunks.writeAVCC(videoFrameCSID, byte(message.TypeVideo), ts, head, u.NALUs)
	m.pendVideo++
	m.pendBytes += uint64(size)
	return nil
}

var errUnsupportedVideo = errors.New("unsupported video codec")

// writeHeaders sends onMetaData and the video (and known audio) sequence
// headers for the key frame u.
func (m *muxer) writeHeaders(u *media.Unit) error {
	t := u.Track
	ps := u.ParamSets()
	var seq message.Message
	switch t.Codec {
	case media.CodecH264:
		c, err := avcConfig(ps.SPS, ps.PPS)
		if err != nil {
			return err
		}
		seq = &message.Video{
			ChunkStreamID: message.VideoChunkStreamID, MessageStreamID: 0x1000000,
			Codec: message.CodecH264, IsKeyFrame: true, Type: message.VideoTypeConfig,
			AVCConfig: c, DTS: m.lastVideo,
		}
	case media.CodecH265:
		c, err := hvcConfig(ps.VPS, ps.SPS, ps.PPS)
		if err != nil {
			if !errors.Is(err, errNoParameterSets) {
				m.p.log.Warn("bad h265 parameter sets", zap.Error(err))
			}
			return errNoParameterSets
		}
		seq = &message.VideoExSequenceStart{
			ChunkStreamID: message.VideoChunkStreamID, MessageStreamID: 0x1000000,
			FourCC: message.FourCCHEVC, HEVCConfig: c,
		}
	default:
		m.unsupported(t.Codec)
		return errUnsupportedVideo
	}
	if !m.started {
		if err := m.writeMetadata(t); err != nil {
			return err
		}
	}
	if err := m.writeMessage(seq); err != nil {
		return fmt.Errorf("write video sequence header: %w", err)
	}
	m.video.Sent(t)
	if !m.started && m.lastAudio != nil && m.lastAudio.Codec == media.CodecAAC {
		// A bad audio config costs the audio, not the video.
		if err := m.writeAudioHeader(m.lastAudio); err != nil && !errors.Is(err, errBadAudioConfig) {
			return err
		}
	}
	return nil
}

func (m *muxer) writeMetadata(v *media.Track) error {
	meta := amf0.Object{
		{Key: "videocodecid", Value: float64(message.CodecH264)},
		{Key: "width", Value: float64(v.Width)},
		{Key: "height", Value: float64(v.Height)},
	}
	if v.Codec == media.CodecH265 {
		meta[0].Value = float64(message.FourCCHEVC)
	}
	if a := m.lastAudio; a != nil {
		switch a.Codec {
		case media.CodecAAC:
			meta = append(meta, amf0.ObjectEntry{Key: "audiocodecid", Value: float64(message.CodecMPEG4Audio)})
		case media.CodecG711A:
			meta = append(meta, amf0.ObjectEntry{Key: "audiocodecid", Value: float64(message.CodecPCMA)})
		case media.CodecG711U:
			meta = append(meta, amf0.ObjectEntry{Key: "audiocodecid", Value: float64(message.CodecPCMU)})
		}
	}
	err := m.writeMessage(&message.DataAMF0{
		ChunkStreamID: 4, MessageStreamID: 0x1000000,
		Payload: []any{"@setDataFrame", "onMetaData", meta},
	})
	if err != nil {
		return fmt.Errorf("write metadata: %w", err)
	}
	return nil
}

func (m *muxer) writeAudioHeader(t *media.Track) error {
	var asc mpeg4audio.AudioSpecificConfig
	if err := asc.Unmarshal(t.Config); err != nil {
		return fmt.Errorf("%w: aac config: %w", errBadAudioConfig, err)
	}
	err := m.writeMessage(&message.Audio{
		ChunkStreamID: message.AudioChunkStreamID, MessageStreamID: 0x1000000,
		Codec: message.CodecMPEG4Audio, Rate: message.AudioRate44100,
		Depth: message.AudioDepth16, IsStereo: true,
		AACType: message.AudioAACTypeConfig, AACConfig: &asc, DTS: m.lastAudioTS,
	})
	if err != nil {
		return fmt.Errorf("write audio sequence header: %w", err)
	}
	m.audio = t
	return nil
}

var errBadAudioConfig = errors.New("bad audio config")

// writeAudio sends the audio frames of unit u.
func (m *muxer) writeAudio(u *media.Unit) error {
	t := u.Track
	if t.Codec == media.CodecAAC && t != m.audio {
		if err := m.writeAudioHeader(t); err != nil {
			if errors.Is(err, errBadAudioConfig) {
				m.p.drops.Add(1)
				return nil
			}
			return err
		}
	}
	// FLV audio tag header: codec, rate, 16-bit, channels (AAC is always
	// declared 44.1 kHz stereo; its real format is in the config).
	var h byte
	switch t.Codec {
	case media.CodecAAC:
		h = message.CodecMPEG4Audio<<4 | byte(message.AudioRate44100)<<2 | byte(message.AudioDepth16)<<1 | 1
	case media.CodecG711A, media.CodecG711U:
		codec := byte(message.CodecPCMA)
		if t.Codec == media.CodecG711U {
			codec = message.CodecPCMU
		}
		h = codec<<4 | byte(message.AudioRate5512)<<2 | byte(message.AudioDepth16)<<1
		if t.Channels == 2 {
			h |= 1
		}
	}
	head := append(m.head[:0], h)
	if t.Codec == media.CodecAAC {
		head = append(head, byte(message.AudioAACTypeAU))
	}
	for i, au := range u.Frames {
		dts := audioFrameDTS(u, i)
		ts, ok := m.timestamp(dts, m.lastAudioTS)
		if !ok {
			// Audio from before the first key frame, which arrived after
			// it, or audio going back: a gap is inaudible next to a jump.
			if dts >= m.base {
				m.p.backwards.Add(1)
			}
			m.p.drops.Add(1)
			continue
		}
		m.lastAudioTS = ts
		if err := m.room(len(head) + len(au)); err != nil {
			return err
		}
		m.chunks.write(audioFrameCSID, byte(message.TypeAudio), ts, head, au)
		m.pendAudio++
		m.pendBytes += uint64(len(au))
	}
	return nil
}

// audioFrameDTS is the DTS of frame i of audio unit u: an AAC unit may carry
// several frames, each 1024 samples after the one before.
func audioFrameDTS(u *media.Unit, i int) time.Duration {
	rate := u.Track.SampleRate
	if rate <= 0 {
		rate = u.Track.ClockRate
	}
	if i == 0 || rate <= 0 || u.Track.Codec != media.CodecAAC {
		return u.DTS
	}
	return u.DTS + time.Duration(i)*1024*time.Second/time.Duration(rate)
}
