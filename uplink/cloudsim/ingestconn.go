package cloudsim

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/handshake"
	"github.com/bluenviron/gortmplib/pkg/message"
)

// One RTMP connection to the ingest: the handshake a strict media server
// checks, then the frames it records.

// ingestConn is one connection's protocol state, owned by its goroutine.
type ingestConn struct {
	i    *Ingest
	conn net.Conn
	mrw  *message.ReadWriter
	rec  *PublishRecord

	lastDTS  [2]time.Duration // per track: video, audio
	anyFrame [2]bool
}

func (i *Ingest) serve(conn net.Conn) {
	defer conn.Close()
	s := &ingestConn{i: i, conn: conn}
	err := s.run()
	i.mu.Lock()
	defer i.mu.Unlock()
	if s.rec != nil && s.rec.Accepted && s.rec.Active {
		s.rec.Active = false
		if err != nil {
			s.rec.Ended = err.Error()
		} else {
			s.rec.Ended = "unpublished"
		}
	}
	i.notifyLocked()
}

// update runs f on the record under the ingest lock and wakes waiters.
func (s *ingestConn) update(f func(r *PublishRecord)) {
	s.i.mu.Lock()
	f(s.rec)
	s.i.notifyLocked()
	s.i.mu.Unlock()
}

func (s *ingestConn) read() (message.Message, error) {
	if err := s.conn.SetReadDeadline(time.Now().Add(s.i.opts.ReadTimeout)); err != nil {
		return nil, err
	}
	return s.mrw.Read()
}

func (s *ingestConn) readCommand() (*message.CommandAMF0, error) {
	for {
		msg, err := s.read()
		if err != nil {
			return nil, err
		}
		if cmd, ok := msg.(*message.CommandAMF0); ok {
			return cmd, nil
		}
	}
}

func (s *ingestConn) run() error {
	if err := s.conn.SetDeadline(time.Now().Add(s.i.opts.ReadTimeout)); err != nil {
		return err
	}
	bc := bytecounter.NewReadWriter(s.conn)
	keyIn, _, err := handshake.DoServer(bc, false)
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if keyIn != nil {
		return errors.New("encrypted rtmp (rtmpe) is not supported")
	}
	s.mrw = message.NewReadWriter(bc, bc, false)

	cmd, err := s.readCommand()
	if err != nil {
		return fmt.Errorf("read connect: %w", err)
	}
	if cmd.Name != "connect" || len(cmd.Arguments) < 1 {
		return fmt.Errorf("first command is %q, not connect", cmd.Name)
	}
	obj, ok := objectOf(cmd.Arguments[0])
	if !ok {
		return errors.New("connect without command object")
	}
	app, _ := obj.GetString("app")
	tcURL, _ := obj.GetString("tcUrl")

	s.i.mu.Lock()
	s.i.nextID++
	s.rec = &PublishRecord{ID: s.i.nextID, Remote: s.conn.RemoteAddr().String(), App: app, TCURL: tcURL, Monotonic: true}
	s.i.records = append(s.i.records, s.rec)
	s.i.conns[s.conn] = s.rec
	s.i.notifyLocked()
	s.i.mu.Unlock()

	if !slices.Contains(s.i.opts.Apps, app) {
		s.reject("unknown app " + app)
		_ = s.mrw.Write(&message.CommandAMF0{
			ChunkStreamID: cmd.ChunkStreamID, Name: "_error", CommandID: cmd.CommandID,
			Arguments: []any{nil, amf0.Object{
				{Key: "level", Value: "error"},
				{Key: "code", Value: "NetConnection.Connect.Rejected"},
				{Key: "description", Value: "application not found"},
			}},
		})
		return errors.New("unknown app")
	}
	if err := s.acceptConnect(cmd); err != nil {
		return err
	}
	if err := s.awaitPublish(); err != nil {
		return err
	}
	if err := s.conn.SetWriteDeadline(time.Time{}); err != nil {
		return err
	}
	return s.receive()
}

func objectOf(v any) (amf0.Object, bool) {
	switch o := v.(type) {
	case amf0.Object:
		return o, true
	case amf0.ECMAArray:
		return amf0.Object(o), true
	}
	return nil, false
}

func (s *ingestConn) reject(reason string) {
	s.update(func(r *PublishRecord) { r.Rejected = reason })
}

func (s *ingestConn) acceptConnect(cmd *message.CommandAMF0) error {
	for _, m := range []message.Message{
		&message.SetWindowAckSize{Value: 2500000},
		&message.SetPeerBandwidth{Value: 2500000, Type: 2},
		&message.SetChunkSize{Value: 65536},
		&message.CommandAMF0{
			ChunkStreamID: cmd.ChunkStreamID, Name: "_result", CommandID: cmd.CommandID,
			Arguments: []any{
				amf0.Object{{Key: "fmsVer", Value: "FMS/3,0,1,123"}, {Key: "capabilities", Value: float64(31)}},
				amf0.Object{
					{Key: "level", Value: "status"},
					{Key: "code", Value: "NetConnection.Connect.Success"},
					{Key: "description", Value: "Connection succeeded."},
					{Key: "objectEncoding", Value: float64(0)},
				},
			},
		},
	} {
		if err := s.mrw.Write(m); err != nil {
			return fmt.Errorf("accept connect: %w", err)
		}
	}
	return nil
}

func (s *ingestConn) status(cmd *message.CommandAMF0, level, code, desc string) error {
	return s.mrw.Write(&message.CommandAMF0{
		ChunkStreamID: 5, MessageStreamID: 0x1000000, Name: "onStatus", CommandID: cmd.CommandID,
		Arguments: []any{nil, amf0.Object{
			{Key: "level", Value: level},
			{Key: "code", Value: code},
			{Key: "description", Value: desc},
		}},
	})
}

// awaitPublish answers createStream and friends until publish, which it
// checks the way a real media server would.
func (s *ingestConn) awaitPublish() error {
	for {
		cmd, err := s.readCommand()
		if err != nil {
			return fmt.Errorf("await publish: %w", err)
		}
		switch cmd.Name {
		case "releaseStream", "FCPublish", "_checkbw":
			// Legacy FMS calls; nothing to answer that a client waits for.
		case "createStream":
			err := s.mrw.Write(&message.CommandAMF0{
				ChunkStreamID: cmd.ChunkStreamID, Name: "_result", CommandID: cmd.CommandID,
				Arguments: []any{nil, float64(1)},
			})
			if err != nil {
				return fmt.Errorf("answer createStream: %w", err)
			}
		case "play":
			s.reject("play on a publish-only ingest")
			_ = s.status(cmd, "error", "NetStream.Play.Failed", "this ingest only accepts publishing")
			return errors.New("play refused")
		case "publish":
			return s.publish(cmd)
		default:
			// Unknown calls are ignored, as media servers do.
		}
	}
}

func (s *ingestConn) publish(cmd *message.CommandAMF0) error {
	var name, typ string
	if len(cmd.Arguments) >= 2 {
		name, _ = cmd.Arguments[1].(string)
	}
	if len(cmd.Arguments) >= 3 {
		typ, _ = cmd.Arguments[2].(string)
	}
	stream, rawQuery, _ := strings.Cut(name, "?")
	query, qerr := url.ParseQuery(rawQuery)
	s.update(func(r *PublishRecord) { r.Name, r.Stream, r.Query, r.Type = name, stream, query, typ })

	refuse := func(code, why string) error {
		s.reject(why)
		_ = s.status(cmd, "error", code, why)
		return errors.New(why)
	}
	if stream == "" {
		return refuse("NetStream.Publish.BadName", "publish without a stream name")
	}
	if qerr != nil {
		return refuse("NetStream.Publish.BadName", "bad query in stream name")
	}
	if s.i.opts.Authorize != nil {
		if err := s.i.opts.Authorize(s.rec.App, stream, query); err != nil {
			return refuse("NetStream.Publish.Unauthorized", "unauthorized: "+err.Error())
		}
	}
	// One publisher per stream name, like nginx-rtmp's "already publishing".
	s.i.mu.Lock()
	busy := false
	for _, r := range s.i.records {
		if r != s.rec && r.Active && r.App == s.rec.App && r.Stream == stream {
			busy = true
		}
	}
	if !busy {
		s.rec.Accepted, s.rec.Active = true, true
		s.i.notifyLocked()
	}
	s.i.mu.Unlock()
	if busy {
		return refuse("NetStream.Publish.BadName", "stream already publishing")
	}
	if err := s.status(cmd, "status", "NetStream.Publish.Start", "publish start"); err != nil {
		return fmt.Errorf("answer publish: %w", err)
	}
	return nil
}

// receive records media until the publisher leaves or the connection fails.
func (s *ingestConn) receive() error {
	for {
		msg, err := s.read()
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *message.DataAMF0:
			if len(m.Payload) >= 2 && (m.Payload[0] == "@setDataFrame" || m.Payload[0] == "onMetaData") {
				s.update(func(r *PublishRecord) { r.Metadata = true })
			}
		case *message.Video:
			s.video(m)
		case *message.VideoExSequenceStart:
			if m.FourCC == message.FourCCHEVC && m.HEVCConfig != nil {
				s.update(func(r *PublishRecord) {
					r.VideoCodec, r.VideoHeaders = "H.265", r.VideoHeaders+1
					for _, a := range m.HEVCConfig.NaluArrays {
						if len(a.Nalus) == 0 {
							continue
						}
						switch a.NaluType {
						case 32:
							r.VPS = a.Nalus[0].NALUnit
						case 33:
							r.SPS = a.Nalus[0].NALUnit
						case 34:
							r.PPS = a.Nalus[0].NALUnit
						}
					}
				})
			} else {
				s.violation(fmt.Sprintf("unsupported enhanced video codec %08x", uint32(m.FourCC)))
			}
		case *message.VideoExCodedFrames:
			s.hevcFrame(m.FourCC, m.DTS, m.Payload)
		case *message.VideoExFramesX:
			s.hevcFrame(m.FourCC, m.DTS, m.Payload)
		case *message.Audio:
			s.audio(m)
		case *message.CommandAMF0:
			switch m.Name {
			case "deleteStream", "FCUnpublish", "closeStream":
				return nil
			}
		}
	}
}

func (s *ingestConn) violation(v string) {
	s.update(func(r *PublishRecord) {
		if len(r.Violations) < 100 && !slices.Contains(r.Violations, v) {
			r.Violations = append(r.Violations, v)
		}
	})
}

func (s *ingestConn) video(m *message.Video) {
	if m.Codec != message.CodecH264 {
		s.violation(fmt.Sprintf("unsupported legacy video codec id %d", m.Codec))
		return
	}
	switch m.Type {
	case message.VideoTypeConfig:
		c := m.AVCConfig
		s.update(func(r *PublishRecord) {
			r.VideoCodec, r.VideoHeaders = "H.264", r.VideoHeaders+1
			if len(c.SequenceParameterSets) > 0 {
				r.SPS = c.SequenceParameterSets[0].NALUnit
			}
			if len(c.PictureParameterSets) > 0 {
				r.PPS = c.PictureParameterSets[0].NALUnit
			}
		})
	case message.VideoTypeAU:
		nalus, ok := splitLengthPrefixed(m.AU)
		if !ok {
			s.violation("video payload is not 4-byte length-prefixed (AVCC)")
		}
		idr := false
		for _, n := range nalus {
			if len(n) > 0 && n[0]&0x1f == 5 {
				idr = true
			}
		}
		if ok && idr != m.IsKeyFrame {
			s.violation("key frame flag disagrees with IDR presence")
		}
		s.frame(true, m.DTS, m.IsKeyFrame, len(m.AU))
	}
}

func (s *ingestConn) hevcFrame(fourCC message.FourCC, dts time.Duration, payload []byte) {
	if fourCC != message.FourCCHEVC {
		s.violation(fmt.Sprintf("unsupported enhanced video codec %08x", uint32(fourCC)))
		return
	}
	nalus, ok := splitLengthPrefixed(payload)
	if !ok {
		s.violation("video payload is not 4-byte length-prefixed (HVCC)")
	}
	irap := false
	for _, n := range nalus {
		if t := (n[0] >> 1) & 0x3f; len(n) > 1 && t >= 16 && t <= 23 {
			irap = true
		}
	}
	s.frame(true, dts, irap, len(payload))
}

func (s *ingestConn) audio(m *message.Audio) {
	switch m.Codec {
	case message.CodecMPEG4Audio:
		if m.AACType == message.AudioAACTypeConfig {
			if m.AACConfig == nil {
				s.violation("empty AAC sequence header")
				return
			}
			b, err := m.AACConfig.Marshal()
			if err != nil {
				s.violation("bad AAC sequence header")
				return
			}
			s.update(func(r *PublishRecord) { r.AudioCodec, r.AACConfig, r.AudioHeaders = "AAC", b, r.AudioHeaders+1 })
			return
		}
		s.frame(false, m.DTS, false, len(m.AU))
	case message.CodecPCMA, message.CodecPCMU:
		codec := "G711A"
		if m.Codec == message.CodecPCMU {
			codec = "G711U"
		}
		s.update(func(r *PublishRecord) { r.AudioCodec = codec })
		s.frame(false, m.DTS, false, len(m.AU))
	default:
		s.violation(fmt.Sprintf("unsupported audio codec id %d", m.Codec))
	}
}

func (s *ingestConn) frame(video bool, dts time.Duration, key bool, size int) {
	at := time.Now()
	k := 0
	if !video {
		k = 1
	}
	backwards := s.anyFrame[k] && dts < s.lastDTS[k]
	s.anyFrame[k], s.lastDTS[k] = true, dts
	f := FrameRecord{Video: video, DTS: dts, Key: key, Size: size, At: at}
	if s.i.opts.OnFrame != nil {
		s.i.opts.OnFrame(s.rec.Stream, f)
	}
	s.update(func(r *PublishRecord) {
		if video {
			if r.VideoHeaders == 0 {
				r.Violations = appendOnce(r.Violations, "video frame before sequence header")
			}
			if r.VideoFrames == 0 {
				r.FirstVideoKey = key
			}
			r.VideoFrames++
		} else {
			if r.AudioCodec == "AAC" && r.AudioHeaders == 0 || r.AudioCodec == "" {
				r.Violations = appendOnce(r.Violations, "audio frame before sequence header")
			}
			r.AudioFrames++
		}
		if backwards {
			r.Monotonic = false
		}
		r.Bytes += int64(size)
		if len(r.Frames) < s.i.opts.MaxFrames {
			r.Frames = append(r.Frames, f)
		}
	})
}

func appendOnce(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// splitLengthPrefixed splits an AVCC/HVCC payload; ok is false when the
// lengths do not add up (e.g. an Annex-B payload sent by mistake).
func splitLengthPrefixed(b []byte) ([][]byte, bool) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			return out, false
		}
		n := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		b = b[4:]
		if n <= 0 || n > len(b) {
			return out, false
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out, len(out) > 0
}
