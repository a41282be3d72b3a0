package onvifsim

import "time"

// Options configures a Server. Zero values give a working default camera.
type Options struct {
	// Addr is the TCP listen address; default "127.0.0.1:0". A test that
	// switches the camera off and on (Stop, Restart) can pick a random
	// address of the loopback network, where no other test's listener
	// takes the port while the camera is off.
	Addr string
	// Username and Password are the only accepted credentials. With an empty
	// Username the camera requires no authentication at all.
	Username string
	Password string
	// ClockSkew offsets the device clock from the host clock, e.g. 2*time.Hour.
	ClockSkew time.Duration
	// RequireDigest makes every HTTP request need HTTP digest authentication
	// (401 challenge), in addition to WS-UsernameToken.
	RequireDigest bool
	// AdvertiseAddr, if set, is the host:port put in advertised service
	// addresses instead of the real one, like a camera behind NAT.
	AdvertiseAddr string
	// RTSPURL is returned by GetStreamUri; default rtsp://127.0.0.1:554/<token>.
	RTSPURL string
	// SnapshotURL is returned by GetSnapshotUri; default is the simulator's
	// own JPEG at SnapshotPath.
	SnapshotURL string
	// SnapshotPNG serves the snapshot as a PNG (image/png), as some
	// cameras' snapshot URIs do; without conversion the cloud got no
	// preview and probe said "not a picture: image: unknown format".
	SnapshotPNG bool
	// DeviceInfo overrides the reported device information field by field.
	DeviceInfo DeviceInfo
	// Profiles default to a Main 1920x1080 H264 25 fps 4096 kbps profile
	// with G711 audio and a Sub 640x360 H264 profile.
	Profiles []Profile
	// Unsupported lists actions answered with ActionNotSupported, to mimic
	// older firmware (e.g. "GetServices").
	Unsupported []string

	// SOAP conformance (reviewer):
	//
	// BareHTTPErrors answers the Unsupported actions with a bare HTTP 500
	// and an HTML page instead of a SOAP fault, as some older firmware
	// does for actions it does not know.
	BareHTTPErrors bool
	// DeviceTypeOnly announces only tds:Device in WS-Discovery, as
	// devices following later ONVIF versions may, so probes for
	// dn:NetworkVideoTransmitter get no answer.
	DeviceTypeOnly bool
	// Media2Only offers the Media2 (ver20) service instead of Media
	// (ver10), as a Profile T camera without Profile S does.
	Media2Only bool

	// Events, analytics, discovery and time (onvif-events; see events.go,
	// analytics.go, discovery.go). Vendor behaviours drawn from real cameras:
	//
	// MotionStyle is how motion is reported: MotionStyleCellMotion (the
	// default: RuleEngine/CellMotionDetector/Motion with IsMotion, as
	// Hikvision and Axis analytics do) or MotionStyleMotionAlarm
	// (VideoSource/MotionAlarm with State, typical of cameras that also
	// insist on WS-Security, which the sim does whenever Username is set).
	MotionStyle string
	// NeverSendsStop makes the camera report motion and sound starts but
	// never their ends, as some firmware does.
	NeverSendsStop bool
	// NoEvents removes the events service; NoAnalytics removes the
	// analytics service (no cell motion engine).
	NoEvents    bool
	NoAnalytics bool
	// MaxSubscriptionTerm caps the pull-point lifetime the camera grants,
	// whatever the client asks (cameras commonly cap it); 0 grants the
	// request up to 10 minutes.
	MaxSubscriptionTerm time.Duration
	// CellColumns and CellRows are the cell motion layout; 22x18 (Hikvision,
	// Axis) by default.
	CellColumns int
	CellRows    int
	// DiscoveryName is the name scope announced by WS-Discovery; by default
	// "<Manufacturer> <Model>".
	DiscoveryName string
	// SubscriptionIDInHeader serves every pull point at the events service
	// address, told apart by a SubscriptionId reference parameter that
	// requests must echo in their SOAP header (Axis does this).
	SubscriptionIDInHeader bool

	// Camera settings (onvif-settings; see imaging.go, videosource.go,
	// encoder.go, audio.go, osd.go, ptz.go):
	//
	// NoPTZ gives a fixed camera: no PTZ service is advertised, PTZ actions
	// are ActionNotSupported and profiles carry no PTZConfiguration.
	NoPTZ bool
	// NoOSD makes every OSD action ActionNotSupported, like older firmware.
	NoOSD bool
	// NoImaging removes the imaging service.
	NoImaging bool
	// NoRotate leaves rotation out of the video source configuration.
	NoRotate bool
	// NoAudioOutput gives a camera without a speaker (no audio outputs).
	NoAudioOutput bool
	// MaxBitrateKbps, if set, silently caps encoder bitrates above it while
	// advertising a wider range, as cameras limited by the sensor mode do.
	MaxBitrateKbps int

	// Quirks (issue 14): cameras that bend the ONVIF rules on
	// authentication and service discovery (see quirks.go and
	// docs/camera-behaviours.md). Older firmware that lacks GetServices
	// altogether is Unsupported: []string{"GetServices"}.
	//
	// NoWSSecurity makes the camera answer every request carrying a
	// WS-Security header with a SOAP MustUnderstand fault (HTTP 500, with a
	// NotUnderstood header block naming wsse:Security) and authenticate
	// with HTTP digest only, as some NVR-bundled and budget OEM firmware
	// does whose SOAP stack was built without WS-Security. A client that
	// always sends a UsernameToken cannot connect at all.
	NoWSSecurity bool
	// WSSecurityOnly makes the camera answer 401, without a digest
	// challenge, to every request that carries no WS-UsernameToken, even
	// GetSystemDateAndTime (which ONVIF says needs none), as cameras with
	// HTTP authentication switched off do. A client that reads the clock
	// anonymously first cannot connect.
	WSSecurityOnly bool
	// ServicesOmitPTZ leaves the PTZ service out of GetServices while
	// GetCapabilities and the PTZ service itself have it, as some PTZ
	// domes' firmware does: a client trusting GetServices sees a fixed
	// camera.
	ServicesOmitPTZ bool
	// DeadServiceAddr names a service ("imaging" or "ptz") that is
	// announced at an address that closes every connection unanswered,
	// like firmware announcing a service of a module the model lacks.
	DeadServiceAddr string
	// AuthFailedPlainFault, when set, is the Reason of the fault answering
	// wrong credentials, a Sender fault with no NotAuthorized subcode
	// ("Authentication failed", "Unauthorized", "Invalid username or
	// password"), as various OEM firmware sends: the user saw "soap fault
	// Sender" instead of "wrong password".
	AuthFailedPlainFault string
	// AuthFailedHTML, when set (400 or 500), is the HTTP status of the
	// HTML page answering wrong credentials, no SOAP fault at all, as some
	// embedded web servers do; the user saw "http 400".
	AuthFailedHTML int

	// Encoder quirks (issue 14; see encoder.go). Cameras that do not say
	// what their encoder allows clamp a value beyond their real limits
	// (1–30 fps, 32–16384 kbps) instead of faulting, so with any of these
	// set SetVideoEncoderConfiguration clamps.
	//
	// EmptyEncoderOptions answers GetVideoEncoderConfigurationOptions
	// with empty elements and no codec options at all (budget NVR-branded
	// cameras and some OEM firmware); before issue 14 the agent refused
	// every set_stream_config, even an unchanged one ("encoding H264 out
	// of range (camera allows [])").
	EmptyEncoderOptions bool
	// EncoderOptionsFault answers GetVideoEncoderConfigurationOptions
	// with HTTP 500 and a SOAP Receiver fault "TypeError: method is not a
	// function", as ONVIF servers written in JavaScript do for actions they
	// route but do not implement; get_stream_caps used to answer ERROR.
	EncoderOptionsFault bool
	// NoRateControl leaves RateControl out of video encoder
	// configurations, so frame rate and bitrate are not reported (some
	// doorbells and fixed-function cameras); the agent used to show them
	// as 0 fps and 0 kbps. Set requests may leave RateControl out, or
	// carry only the limits they change.
	NoRateControl bool
}
