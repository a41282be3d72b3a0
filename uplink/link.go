package uplink

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Link is what the cloud told the agent about the current connection:
// the parts of hello and cam_hello that media publishing and uploads need.
// It is valid from cam_hello until the connection drops.
type Link struct {
	CamID int64
	// SID is hello.sid, appended to publish and legacy upload URLs.
	SID string
	// MediaServer is cam_hello.media_uri when present, else hello.media_server:
	// "host:port" or "rtmp[s]://host:port".
	MediaServer string
	// Path is cam_hello.path (or media_url): publish path prefix, stream id appended without separator.
	Path string
	// UploadURI is hello.upload_uri, or "http://"+hello.upload_url on older servers (docs/protocol.md#q21).
	UploadURI string
	// Secure is true on a wss control channel: publish defaults to rtmps.
	Secure bool
	// Activity is cam_hello.activity (absent = true, docs/protocol.md#q10).
	Activity bool
}

// ErrNoMediaServer means the cloud has not named an RTMP server on this connection.
var ErrNoMediaServer = errors.New("cloud sent no media server")

// PublishURL builds the RTMP(S) publish URL of docs/protocol.md#publish-url for streamID. psid is
// the stream_start publish_session_id; 0 means absent.
func (l Link) PublishURL(streamID string, psid int64) (string, error) {
	base := strings.TrimRight(l.MediaServer, "/")
	if base == "" {
		return "", ErrNoMediaServer
	}
	if !strings.Contains(base, "://") {
		if l.Secure {
			base = "rtmps://" + base
		} else {
			base = "rtmp://" + base
		}
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "rtmp" && u.Scheme != "rtmps") {
		return "", fmt.Errorf("bad media server %q", l.MediaServer)
	}
	s := u.Scheme + "://" + u.Host + "/" + strings.TrimLeft(l.Path, "/") + streamID + "?sid=" + l.SID
	if psid != 0 {
		s += "&psid=" + strconv.FormatInt(psid, 10)
	}
	return s, nil
}
