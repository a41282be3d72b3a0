// Package rtspsim is an in-process RTSP camera for tests and `camagent demo`:
// it loops an H.264 (Annex-B) + AAC (ADTS) recording in real time over
// RTSP/RTP, with digest authentication like a real camera.
package rtspsim

import (
	"context"
	"crypto/rand"
	_ "embed" // the default fixture is compiled in so demo works from any directory
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"go.uber.org/zap"
)

//go:embed fixture/fixture.h264
var fixtureVideo []byte

//go:embed fixture/fixture.aac
var fixtureAudio []byte

// FPS is the frame rate the simulator paces video at; the fixture is 25 fps.
const FPS = 25

const (
	videoClockRate = 90000
	videoPT        = 96
	audioPT        = 97
	aacFrameLen    = 1024 // samples per AAC-LC frame
)

// Options configures a Server. The zero value serves the embedded fixture on
// rtsp://127.0.0.1:<random port>/stream without authentication.
type Options struct {
	// Addr is the TCP listen address; default "127.0.0.1:0". A test that
	// stops and restarts the camera can pick a random address of the
	// loopback network, where no other test's listener takes the port
	// while the camera is off.
	Addr string
	// Path is the stream path; default "/stream".
	Path string
	// Username and Password, when Username is set, make every DESCRIBE and
	// SETUP require digest (MD5) authentication; wrong ones get 401.
	Username, Password string
	// VideoFile and AudioFile replace the embedded fixture with H.264 Annex-B
	// and AAC ADTS files. AudioFile "-" disables audio.
	VideoFile, AudioFile string
	// FreezeAfter, when > 0, stops sending media after that many video frames
	// while keeping sessions open, like a camera whose encoder hung.
	FreezeAfter int64
	// SessionLimit, when > 0, is how many RTSP sessions the camera serves
	// at once, like the 2–4 of most IP cameras: beyond it DESCRIBE and
	// SETUP answer LimitStatus.
	SessionLimit int
	// LimitStatus is the answer beyond SessionLimit: 453 (Not Enough
	// Bandwidth, the default) or 503 (Service Unavailable); vendors differ.
	LimitStatus int
	// BootTime, when > 0, makes DESCRIBE and SETUP answer 503 for that long
	// after Start and Restart, like a camera whose RTSP port opens before
	// its encoder is ready.
	BootTime time.Duration
	// Log receives connection events; default no logging.
	Log *zap.Logger
}

// Server is a simulated RTSP camera. Create with New, then Start.
type Server struct {
	opts Options
	log  *zap.Logger

	aus         []accessUnit // each IDR already carries SPS+PPS
	audioFrames [][]byte
	sps, pps    []byte

	srv         *gortsplib.Server
	stream      *gortsplib.ServerStream
	videoMedia  *description.Media
	audioMedia  *description.Media
	videoFormat *format.H264
	audioFormat *format.MPEG4Audio

	mu       sync.Mutex
	conns    map[*gortsplib.ServerConn]struct{}
	sessions map[*gortsplib.ServerSession]struct{}
	// granted are the sessions SETUP accepted: SessionLimit counts them.
	granted map[*gortsplib.ServerSession]struct{}
	// bootUntil: DESCRIBE and SETUP answer 503 before it (BootTime).
	bootUntil time.Time

	framesSent atomic.Int64
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

// New returns a Server with defaults applied; it does not listen yet.
func New(opts Options) *Server {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Path == "" {
		opts.Path = "/stream"
	}
	if !strings.HasPrefix(opts.Path, "/") {
		opts.Path = "/" + opts.Path
	}
	log := opts.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &Server{
		opts:     opts,
		log:      log,
		conns:    map[*gortsplib.ServerConn]struct{}{},
		sessions: map[*gortsplib.ServerSession]struct{}{},
		granted:  map[*gortsplib.ServerSession]struct{}{},
	}
}

// Start loads the media, listens (TCP plus a UDP port pair) and starts the
// real-time sender.
func (s *Server) Start() error {
	if err := s.load(); err != nil {
		return err
	}
	s.videoFormat = &format.H264{PayloadTyp: videoPT, SPS: s.sps, PPS: s.pps, PacketizationMode: 1}
	s.videoMedia = &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{s.videoFormat}}
	desc := &description.Session{Medias: []*description.Media{s.videoMedia}}
	if s.audioFormat != nil {
		s.audioMedia = &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{s.audioFormat}}
		desc.Medias = append(desc.Medias, s.audioMedia)
	}

	if err := s.listen(); err != nil {
		return err
	}
	// The server already accepts: a client that knocks at once (the agent
	// after a Restart) is answered 503 until the stream is set, under mu.
	stream := &gortsplib.ServerStream{Server: s.srv, Desc: desc}
	if err := stream.Initialize(); err != nil {
		s.srv.Close()
		return fmt.Errorf("rtspsim: init stream: %w", err)
	}
	s.mu.Lock()
	s.bootUntil = time.Now().Add(s.opts.BootTime)
	s.stream = stream
	s.mu.Unlock()

	venc, err := s.videoFormat.CreateEncoder()
	if err != nil {
		s.Close()
		return fmt.Errorf("rtspsim: video encoder: %w", err)
	}
	var aenc *rtpmpeg4audio.Encoder
	if s.audioFormat != nil {
		if aenc, err = s.audioFormat.CreateEncoder(); err != nil {
			s.Close()
			return fmt.Errorf("rtspsim: audio encoder: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.send(ctx, stream, venc, aenc)
	}()
	s.log.Info("rtspsim listening", zap.String("url", s.URL()))
	return nil
}

// load reads and splits the media files.
func (s *Server) load() error {
	video, audio := fixtureVideo, fixtureAudio
	var err error
	if s.opts.VideoFile != "" {
		if video, err = os.ReadFile(s.opts.VideoFile); err != nil {
			return fmt.Errorf("rtspsim: read video: %w", err)
		}
	}
	switch s.opts.AudioFile {
	case "":
	case "-":
		audio = nil
	default:
		if audio, err = os.ReadFile(s.opts.AudioFile); err != nil {
			return fmt.Errorf("rtspsim: read audio: %w", err)
		}
	}

	aus, err := splitAnnexB(video)
	if err != nil {
		return fmt.Errorf("rtspsim: parse video: %w", err)
	}
	for _, au := range aus {
		for _, n := range au {
			switch n[0] & 0x1f {
			case naluSPS:
				if s.sps == nil {
					s.sps = n
				}
			case naluPPS:
				if s.pps == nil {
					s.pps = n
				}
			}
		}
	}
	if s.sps == nil || s.pps == nil {
		return errors.New("rtspsim: video has no SPS/PPS")
	}
	// Like a camera, send the parameter sets before every IDR so a client
	// can join at any key frame.
	for i, au := range aus {
		hasIDR, hasSPS := false, false
		for _, n := range au {
			switch n[0] & 0x1f {
			case naluIDR:
				hasIDR = true
			case naluSPS:
				hasSPS = true
			}
		}
		if hasIDR && !hasSPS {
			aus[i] = append(accessUnit{s.sps, s.pps}, au...)
		}
	}
	s.aus = aus

	if audio != nil {
		frames, cfg, err := splitADTS(audio)
		if err != nil {
			return fmt.Errorf("rtspsim: parse audio: %w", err)
		}
		s.audioFrames = frames
		s.audioFormat = &format.MPEG4Audio{
			PayloadTyp: audioPT,
			Config: &mpeg4audio.AudioSpecificConfig{
				Type:          mpeg4audio.ObjectType(cfg.ObjectType),
				SampleRate:    cfg.SampleRate,
				ChannelConfig: uint8(cfg.ChannelCount),
				ChannelCount:  cfg.ChannelCount,
			},
			SizeLength:       13,
			IndexLength:      3,
			IndexDeltaLength: 3,
		}
	}
	return nil
}

// listen starts the gortsplib server. UDP needs an even RTP port followed by
// its RTCP port, so a free pair is probed and the start retried on a clash.
func (s *Server) listen() error {
	host, _, err := net.SplitHostPort(s.opts.Addr)
	if err != nil {
		return fmt.Errorf("rtspsim: addr: %w", err)
	}
	var lastErr error
	for range 20 {
		rtpPort, err := freeUDPPair(host)
		if err != nil {
			return err
		}
		srv := &gortsplib.Server{
			Handler:        handler{s},
			RTSPAddress:    s.opts.Addr,
			UDPRTPAddress:  net.JoinHostPort(host, strconv.Itoa(rtpPort)),
			UDPRTCPAddress: net.JoinHostPort(host, strconv.Itoa(rtpPort+1)),
			AuthMethods:    []auth.VerifyMethod{auth.VerifyMethodDigestMD5},
			// A 1080p keyframe is ~200 packets; the default 256 drops
			// packets whenever the host is briefly busy.
			WriteQueueSize: 1024,
		}
		if lastErr = srv.Start(); lastErr == nil {
			s.srv = srv
			return nil
		}
	}
	return fmt.Errorf("rtspsim: listen: %w", lastErr)
}

func freeUDPPair(host string) (int, error) {
	for range 50 {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, fmt.Errorf("rtspsim: probe udp port: %w", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		pc.Close()
		if port%2 == 0 && port < 65535 {
			return port, nil
		}
	}
	return 0, errors.New("rtspsim: no even udp port found")
}

// send paces the fixture in real time, looping forever. RTP timestamps keep
// counting across loops, as a live camera's would.
func (s *Server) send(ctx context.Context, stream *gortsplib.ServerStream, venc *rtph264.Encoder, aenc *rtpmpeg4audio.Encoder) {
	videoBase, audioBase := randUint32(), randUint32()
	sampleRate := int64(0)
	if s.audioFormat != nil {
		sampleRate = int64(s.audioFormat.Config.SampleRate)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	start := time.Now()
	var audioN int64
	for n := int64(0); ; n++ {
		if s.opts.FreezeAfter > 0 && n >= s.opts.FreezeAfter {
			<-ctx.Done()
			return
		}
		timer.Reset(time.Until(start.Add(time.Duration(n) * time.Second / FPS)))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}

		pkts, err := venc.Encode(s.aus[n%int64(len(s.aus))])
		if err != nil {
			s.log.Warn("encode video", zap.Error(err))
			continue
		}
		ts := videoBase + uint32(n*videoClockRate/FPS)
		for _, p := range pkts {
			p.Timestamp = ts
			if err := stream.WritePacketRTP(s.videoMedia, p); err != nil {
				return
			}
		}
		s.framesSent.Add(1)

		// Audio up to the end of this video frame's interval.
		for aenc != nil && audioN*aacFrameLen*FPS < (n+1)*sampleRate {
			frame := s.audioFrames[audioN%int64(len(s.audioFrames))]
			pkts, err := aenc.Encode([][]byte{frame})
			if err != nil {
				s.log.Warn("encode audio", zap.Error(err))
			}
			for _, p := range pkts {
				p.Timestamp = audioBase + uint32(audioN*aacFrameLen)
				if err := stream.WritePacketRTP(s.audioMedia, p); err != nil {
					return
				}
			}
			audioN++
		}
	}
}

func randUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// URL is the stream address without credentials, e.g.
// rtsp://127.0.0.1:41234/stream; valid after Start, and the same after
// Stop and Restart.
func (s *Server) URL() string {
	if s.srv == nil {
		return "rtsp://" + s.opts.Addr + s.opts.Path
	}
	return "rtsp://" + s.srv.NetListener().Addr().String() + s.opts.Path
}

// FramesSent is the number of video frames written to the stream so far.
func (s *Server) FramesSent() int64 { return s.framesSent.Load() }

// SPS is the H.264 sequence parameter set announced in the SDP, without start code.
func (s *Server) SPS() []byte { return s.sps }

// PPS is the H.264 picture parameter set announced in the SDP, without start code.
func (s *Server) PPS() []byte { return s.pps }

// Sessions is how many RTSP sessions clients hold open now.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// DropSessions closes every client connection and session, as a camera
// reboot would; clients must reconnect.
func (s *Server) DropSessions() {
	s.mu.Lock()
	conns := make([]*gortsplib.ServerConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	sessions := make([]*gortsplib.ServerSession, 0, len(s.sessions))
	for ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	for _, ss := range sessions {
		ss.Close()
	}
	for _, c := range conns {
		c.Close()
	}
}

// Stop closes the RTSP port first and then every session, like a camera
// whose RTSP server crashed or that reboots: connections are refused
// until Restart.
func (s *Server) Stop() {
	s.opts.Addr = s.srv.NetListener().Addr().String()
	s.srv.NetListener().Close()
	s.Close()
	s.mu.Lock()
	s.cancel, s.srv, s.stream = nil, nil, nil
	s.mu.Unlock()
}

// Restart serves again on the address Stop closed, with a new media
// timeline, as the camera after its reboot.
func (s *Server) Restart() error {
	return s.Start()
}

// Close stops the sender and the server and waits for both.
//
// The server closes before the stream: its Close waits for every session
// to end, and each leaves the stream itself. The stream's Close reads the
// transport of every session still reading it, which a session's SETUP
// writes without the stream's lock, so closing the stream first raced with
// a client in the middle of SETUP.
func (s *Server) Close() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.srv != nil {
		s.srv.Close()
	}
	s.mu.Lock()
	stream := s.stream
	s.mu.Unlock()
	if stream != nil {
		stream.Close()
	}
}

// handler keeps gortsplib's callback methods off Server's exported API.
type handler struct{ s *Server }

// OnConnOpen implements gortsplib.ServerHandlerOnConnOpen.
func (h handler) OnConnOpen(ctx *gortsplib.ServerHandlerOnConnOpenCtx) {
	h.s.mu.Lock()
	h.s.conns[ctx.Conn] = struct{}{}
	h.s.mu.Unlock()
}

// OnConnClose implements gortsplib.ServerHandlerOnConnClose.
func (h handler) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	h.s.mu.Lock()
	delete(h.s.conns, ctx.Conn)
	h.s.mu.Unlock()
}

// OnSessionOpen implements gortsplib.ServerHandlerOnSessionOpen.
func (h handler) OnSessionOpen(ctx *gortsplib.ServerHandlerOnSessionOpenCtx) {
	h.s.mu.Lock()
	h.s.sessions[ctx.Session] = struct{}{}
	h.s.mu.Unlock()
}

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose.
func (h handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	h.s.mu.Lock()
	delete(h.s.sessions, ctx.Session)
	delete(h.s.granted, ctx.Session)
	h.s.mu.Unlock()
}

// busy is the answer to DESCRIBE or SETUP of session ss (nil for DESCRIBE)
// while the camera boots or has no session left; nil when it can serve.
func (s *Server) busy(ss *gortsplib.ServerSession) (*gortsplib.ServerStream, *base.Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream == nil || time.Now().Before(s.bootUntil) {
		return nil, &base.Response{StatusCode: base.StatusServiceUnavailable}
	}
	if _, ok := s.granted[ss]; ok || s.opts.SessionLimit <= 0 || len(s.granted) < s.opts.SessionLimit {
		return s.stream, nil
	}
	code := base.StatusNotEnoughBandwidth
	if s.opts.LimitStatus != 0 {
		code = base.StatusCode(s.opts.LimitStatus)
	}
	return nil, &base.Response{StatusCode: code}
}

// grant counts ss against SessionLimit.
func (s *Server) grant(ss *gortsplib.ServerSession) {
	s.mu.Lock()
	s.granted[ss] = struct{}{}
	s.mu.Unlock()
}

// check applies path and credential checks shared by DESCRIBE and SETUP.
func (s *Server) check(conn *gortsplib.ServerConn, req *base.Request, path string) (*base.Response, error) {
	if s.opts.Username != "" && !conn.VerifyCredentials(req, s.opts.Username, s.opts.Password) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
	}
	if strings.TrimPrefix(path, "/") != strings.TrimPrefix(s.opts.Path, "/") {
		return &base.Response{StatusCode: base.StatusNotFound}, fmt.Errorf("rtspsim: unknown path %q", path)
	}
	return nil, nil
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (h handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := h.s.check(ctx.Conn, ctx.Request, ctx.Path); res != nil {
		return res, nil, err
	}
	stream, res := h.s.busy(nil)
	if res != nil {
		return res, nil, errBusy
	}
	return &base.Response{StatusCode: base.StatusOK}, stream, nil
}

// errBusy is what the server logs for a request refused by busy.
var errBusy = errors.New("rtspsim: booting or no free session")

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (h handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := h.s.check(ctx.Conn, ctx.Request, ctx.Path); res != nil {
		return res, nil, err
	}
	stream, res := h.s.busy(ctx.Session)
	if res != nil {
		return res, nil, errBusy
	}
	h.s.grant(ctx.Session)
	return &base.Response{StatusCode: base.StatusOK}, stream, nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (h handler) OnPlay(_ *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}
