package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzParse from the parse table")

// parseCase is one config document and what Parse must make of it.
type parseCase struct {
	name  string
	yaml  string
	env   map[string]string // set for the case; CREDENTIALS_DIRECTORY is managed via creds
	creds map[string]string // files in a temporary $CREDENTIALS_DIRECTORY; nil = variable unset
	// For invalid configs: the key paths of all errors, in order, plus a
	// substring of the first message and optionally its line.
	paths []string
	msg   string
	line  int
	// For valid configs.
	check func(t *testing.T, c *Config)
}

const minimalCam = `
cameras:
  - name: lobby
    token: dG9rZW4
    onvif: {url: "http://192.168.1.64/onvif/device_service"}
`

// testHash is a bcrypt hash (cost 4) of "pw", as htpasswd -nB writes it.
const testHash = "$2y$04$wE4d3rsREmcKGQt8vaVLreIbk03shZJOg83fasdNaxpZOO5qs2wry"

var parseCases = []parseCase{
	{
		name: "minimal gets defaults",
		yaml: minimalCam,
		check: func(t *testing.T, c *Config) {
			want := Default()
			if c.StateDir != want.StateDir || c.HTTP.Listen != want.HTTP.Listen || c.Log.Level != LevelInfo {
				t.Errorf("defaults not applied: %+v", c)
			}
			if c.Cloud.Insecure || c.Cloud.CAFile != "" {
				t.Errorf("cloud = %+v, want zero", c.Cloud)
			}
			cam := c.Cameras[0]
			if cam.Name != "lobby" || cam.Token.Reveal() != "dG9rZW4" {
				t.Errorf("camera = %+v", cam)
			}
			if cam.ONVIF.Timeout != 10*time.Second || cam.RTSPTransport != RTSPTransportTCP {
				t.Errorf("camera defaults: timeout %v transport %v", cam.ONVIF.Timeout, cam.RTSPTransport)
			}
			if cam.ONVIF.ClockSync != ClockSyncOff || cam.ONVIF.NTPServers != nil || cam.ONVIF.MaxClockSkew != 30*time.Second {
				t.Errorf("clock defaults: sync %v servers %q skew %v", cam.ONVIF.ClockSync, cam.ONVIF.NTPServers, cam.ONVIF.MaxClockSkew)
			}
		},
	},
	{
		name: "every key set",
		yaml: `
state_dir: /srv/cam
log: {level: debug}
http: {listen: "[::1]:9000"}
cloud: {insecure: true, ca_file: ""}
cameras:
  - name: lobby
    token: dG9rZW4
    onvif:
      url: https://cam1.local/onvif/device_service
      username: admin
      password: "p#ss: word"
      timeout: 2m30s
      clock_sync: NTP
      ntp_servers: [pool.ntp.org, 192.168.1.1, "fe80::1"]
      max_clock_skew: 2s
    rtsp: rtsp://admin:secret@cam1.local:554/Streaming/101
    rtsp_transport: udp
  - name: Yard_2
    token: b3RoZXI
    rtsp: rtsps://cam2.local/live
`,
		check: func(t *testing.T, c *Config) {
			if c.StateDir != "/srv/cam" || c.Log.Level != LevelDebug || c.HTTP.Listen != "[::1]:9000" || !c.Cloud.Insecure {
				t.Errorf("top level = %+v", c)
			}
			o := c.Cameras[0].ONVIF
			if o.URL != "https://cam1.local/onvif/device_service" || o.Username != "admin" ||
				o.Password.Reveal() != "p#ss: word" || o.Timeout != 150*time.Second {
				t.Errorf("onvif = %+v (password %q)", o, o.Password.Reveal())
			}
			if o.ClockSync != ClockSyncNTP || !slices.Equal(o.NTPServers, []string{"pool.ntp.org", "192.168.1.1", "fe80::1"}) ||
				o.MaxClockSkew != 2*time.Second {
				t.Errorf("clock keys: sync %v servers %q skew %v", o.ClockSync, o.NTPServers, o.MaxClockSkew)
			}
			if c.Cameras[0].RTSP.Reveal() != "rtsp://admin:secret@cam1.local:554/Streaming/101" ||
				c.Cameras[0].RTSPTransport != RTSPTransportUDP {
				t.Errorf("rtsp = %v %v", c.Cameras[0].RTSP, c.Cameras[0].RTSPTransport)
			}
			if c.Cameras[1].Name != "Yard_2" || c.Cameras[1].ONVIF.URL != "" || c.Cameras[1].ONVIF.Timeout != 10*time.Second {
				t.Errorf("second camera = %+v", c.Cameras[1])
			}
		},
	},
	{
		name: "env substitution keeps special characters inside one value",
		yaml: `
http: {listen: "127.0.0.1:${CAM_PORT}"}
cloud:
  insecure: ${CAM_INSECURE}
cameras:
  - name: lobby
    token: ${CAM_TOKEN}
    onvif: {url: "http://${CAM_HOST}/onvif/device_service", password: "${CAM_PASS}"}
`,
		env: map[string]string{"CAM_PORT": "9001", "CAM_INSECURE": "true", "CAM_TOKEN": "dG9r", "CAM_HOST": "10.0.0.7",
			"CAM_PASS": "a#b: c\nd ${NOT_EXPANDED_AGAIN}"},
		check: func(t *testing.T, c *Config) {
			if c.HTTP.Listen != "127.0.0.1:9001" || !c.Cloud.Insecure || c.Cameras[0].Token.Reveal() != "dG9r" ||
				c.Cameras[0].ONVIF.URL != "http://10.0.0.7/onvif/device_service" {
				t.Errorf("substituted config = %+v", c)
			}
			if got := c.Cameras[0].ONVIF.Password.Reveal(); got != "a#b: c\nd ${NOT_EXPANDED_AGAIN}" {
				t.Errorf("password = %q", got)
			}
		},
	},
	{
		name: "dollar escapes",
		yaml: `
cameras:
  - name: lobby
    token: t
    onvif: {url: "http://h/onvif", password: "$$HOME pa$s $"}
`,
		check: func(t *testing.T, c *Config) {
			if got := c.Cameras[0].ONVIF.Password.Reveal(); got != "$HOME pa$s $" {
				t.Errorf("password = %q", got)
			}
		},
	},
	{
		name: "anchors share onvif credentials",
		yaml: `
cameras:
  - name: a
    token: t1
    onvif: &cam {url: "http://10.0.0.1/onvif", username: admin, password: pw}
  - name: b
    token: t2
    onvif: *cam
`,
		check: func(t *testing.T, c *Config) {
			if c.Cameras[1].ONVIF.Username != "admin" || c.Cameras[1].ONVIF.Password.Reveal() != "pw" {
				t.Errorf("aliased onvif = %+v", c.Cameras[1].ONVIF)
			}
		},
	},
	{
		name: "merge keys share settings and explicit keys win",
		yaml: `
cameras:
  - name: a
    token: t1
    onvif: &creds {url: "http://10.0.0.1/onvif", username: admin, password: pw, timeout: 3s}
  - name: b
    token: t2
    onvif:
      url: "http://10.0.0.2/onvif"
      <<: [*creds, {username: ignored, timeout: 7s}]
`,
		check: func(t *testing.T, c *Config) {
			o := c.Cameras[1].ONVIF
			if o.URL != "http://10.0.0.2/onvif" || o.Username != "admin" || o.Password.Reveal() != "pw" || o.Timeout != 3*time.Second {
				t.Errorf("merged onvif = %+v", o)
			}
		},
	},
	{
		name: "null values keep defaults and level is case-insensitive",
		yaml: "state_dir:\nlog: {level: WARN}\nhttp:\n" + minimalCam + "    rtsp: ~\n",
		check: func(t *testing.T, c *Config) {
			if c.StateDir != DefaultStateDir || c.HTTP.Listen != DefaultListen || c.Log.Level != LevelWarn || !c.Cameras[0].RTSP.IsZero() {
				t.Errorf("config = %+v", c)
			}
		},
	},
	{
		name: "gateway clock sync without ntp servers",
		yaml: minimalCam[:len(minimalCam)-2] + ", clock_sync: gateway, max_clock_skew: 1m}\n",
		check: func(t *testing.T, c *Config) {
			if o := c.Cameras[0].ONVIF; o.ClockSync != ClockSyncGateway || o.MaxClockSkew != time.Minute || o.NTPServers != nil {
				t.Errorf("onvif = %+v", o)
			}
		},
	},
	{
		name: "ntp clock sync with empty server list means dhcp",
		yaml: minimalCam[:len(minimalCam)-2] + ", clock_sync: ntp, ntp_servers: []}\n",
		check: func(t *testing.T, c *Config) {
			if o := c.Cameras[0].ONVIF; o.ClockSync != ClockSyncNTP || len(o.NTPServers) != 0 {
				t.Errorf("onvif = %+v", o)
			}
		},
	},
	{
		name:  "credential file",
		yaml:  "cameras:\n  - {name: lobby, token: credential:lobby-token, rtsp: credential:lobby-rtsp}\n",
		creds: map[string]string{"lobby-token": "dG9rZW4\n", "lobby-rtsp": "rtsp://u:p@h/s\r\n"},
		check: func(t *testing.T, c *Config) {
			if c.Cameras[0].Token.Reveal() != "dG9rZW4" || c.Cameras[0].RTSP.Reveal() != "rtsp://u:p@h/s" {
				t.Errorf("credentials = %q %q", c.Cameras[0].Token.Reveal(), c.Cameras[0].RTSP.Reveal())
			}
		},
	},
	{
		name: "http basic auth",
		yaml: "http: {listen: \"0.0.0.0:8089\", username: ops, password: \"${HTTP_PW}\"}\n" + minimalCam,
		env:  map[string]string{"HTTP_PW": "s3cret-pw"},
		check: func(t *testing.T, c *Config) {
			if c.HTTP.Username != "ops" || c.HTTP.Password.Reveal() != "s3cret-pw" {
				t.Errorf("http = %q %q", c.HTTP.Username, c.HTTP.Password.Reveal())
			}
			if s := fmt.Sprintf("%v %+v", c.HTTP, c); strings.Contains(s, "s3cret-pw") {
				t.Errorf("the http password prints: %s", s)
			}
		},
	},

	{
		name: "http username alone names the user of the generated password",
		yaml: "http: {username: ops}\n" + minimalCam,
		check: func(t *testing.T, c *Config) {
			if c.HTTP.HasCredentials() || c.HTTP.User() != "ops" {
				t.Errorf("http = %+v: credentials %t, user %q", c.HTTP, c.HTTP.HasCredentials(), c.HTTP.User())
			}
		},
	},
	{
		name: "http bcrypt hash and open switches",
		yaml: "http: {username: ops, password_hash: \"" + testHash + "\", metrics_open: true, open_write: true}\n" + minimalCam,
		check: func(t *testing.T, c *Config) {
			h := c.HTTP
			if !h.HasCredentials() || h.PasswordHash.Reveal() != testHash || !h.MetricsOpen || !h.OpenWrite || h.InsecureOpen {
				t.Errorf("http = %+v", h)
			}
			if s := fmt.Sprintf("%v %+v", h, c); strings.Contains(s, testHash[7:]) {
				t.Errorf("the hash prints: %s", s)
			}
		},
	},

	// Invalid configs.
	{name: "http password hash not bcrypt", yaml: "http: {username: ops, password_hash: \"$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\"}\n" + minimalCam,
		paths: []string{"http.password_hash"}, msg: "http.password_hash: must be a bcrypt hash", line: 1},
	{name: "http password and hash", yaml: "http: {username: ops, password: pw, password_hash: \"" + testHash + "\"}\n" + minimalCam,
		paths: []string{"http.password_hash"}, msg: "set one of them", line: 1},
	{name: "http hash without username", yaml: "http: {password_hash: \"" + testHash + "\"}\n" + minimalCam,
		paths: []string{"http.password_hash"}, msg: "http.username is not", line: 1},
	{name: "http insecure_open with credentials", yaml: "http: {username: ops, password: pw, insecure_open: true}\n" + minimalCam,
		paths: []string{"http.insecure_open"}, msg: "drop one of them", line: 1},
	{name: "http insecure_open not a bool", yaml: "http: {insecure_open: maybe}\n" + minimalCam,
		paths: []string{"http.insecure_open"}, line: 1},
	{name: "http tls cert without key", yaml: "http: {tls_cert: config_test.go}\n" + minimalCam,
		paths: []string{"http.tls_key"}, msg: "is required with http.tls_cert", line: 1},
	{name: "http tls files missing", yaml: "http: {tls_cert: /nonexistent/c.pem, tls_key: /nonexistent/k.pem}\n" + minimalCam,
		paths: []string{"http.tls_cert", "http.tls_key"}, msg: "no such file", line: 1},
	{name: "http password without username", yaml: "http: {password: pw}\n" + minimalCam,
		paths: []string{"http.password"}, msg: "http.password: is set but http.username is not", line: 1},
	{name: "http username with colon", yaml: "http: {username: \"a:b\", password: pw}\n" + minimalCam,
		paths: []string{"http.username"}, msg: "must not contain ':'", line: 1},
	{name: "empty document", yaml: "", paths: []string{"cameras"}, msg: "at least one camera is required"},
	{name: "comment only", yaml: "# nothing\n", paths: []string{"cameras"}},
	{name: "empty camera list", yaml: "cameras: []\n", paths: []string{"cameras"}, line: 1},
	{name: "unknown top-level key", yaml: "logs: {level: info}\n" + minimalCam, paths: []string{"logs"},
		msg: "unknown key; did you mean log? allowed: state_dir, log, memory_limit, http, cloud, events, uploads, recording, cameras", line: 1},
	{name: "unknown nested key", yaml: minimalCam + "    rtsp_transprot: tcp\n", paths: []string{"cameras[0].rtsp_transprot"},
		msg: "unknown key; did you mean rtsp_transport? allowed: name, token, onvif, rtsp, rtsp_transport, pull", line: 6},
	{name: "unknown key far from every allowed one", yaml: minimalCam + "    location: hall\n", paths: []string{"cameras[0].location"},
		msg: "cameras[0].location: unknown key; allowed: name, token", line: 6},
	// The name is unset because of the typo: "name is required" would say
	// the same thing again.
	{name: "misspelt required key", yaml: "cameras:\n  - {nmae: lobby, token: t, rtsp: rtsp://h/}\n", paths: []string{"cameras[0].nmae"},
		msg: "cameras[0].nmae: unknown key; did you mean name? allowed: name, token", line: 2},
	{name: "misspelt key beside the real one", yaml: "cameras:\n  - {name: \"lobby cam\", nme: x, token: t, rtsp: rtsp://h/}\n",
		paths: []string{"cameras[0].nme", "cameras[0].name"}, msg: "did you mean name?"},
	{name: "unknown onvif key", yaml: `
cameras:
  - name: lobby
    token: t
    onvif: {url: "http://h/", user: admin}
`, paths: []string{"cameras[0].onvif.user"}, msg: "allowed: url, username, password, timeout, clock_sync, ntp_servers, max_clock_skew", line: 5},
	{name: "bad clock sync", yaml: clockCam("clock_sync: sntp"), paths: []string{"cameras[0].onvif.clock_sync"},
		msg: `cameras[0].onvif.clock_sync: "sntp" is not one of off, gateway, ntp`, line: 6},
	{name: "clock sync is a boolean", yaml: clockCam("clock_sync: true"), paths: []string{"cameras[0].onvif.clock_sync"},
		msg: `"true" is not one of off, gateway, ntp`},
	{name: "clock sync without onvif", yaml: "cameras:\n  - {name: a, token: t, rtsp: rtsp://h/, onvif: {clock_sync: gateway}}\n",
		paths: []string{"cameras[0].onvif.clock_sync"}, msg: "gateway needs onvif.url", line: 2},
	{name: "ntp servers without ntp sync", yaml: clockCam("clock_sync: gateway", "ntp_servers: [pool.ntp.org]"),
		paths: []string{"cameras[0].onvif.ntp_servers"}, msg: "only used with clock_sync: ntp (clock_sync is gateway)", line: 7},
	{name: "ntp servers with default sync", yaml: clockCam("ntp_servers: [pool.ntp.org]"),
		paths: []string{"cameras[0].onvif.ntp_servers"}, msg: "clock_sync is off"},
	{name: "ntp servers is a scalar", yaml: clockCam("clock_sync: ntp", "ntp_servers: pool.ntp.org"),
		paths: []string{"cameras[0].onvif.ntp_servers"}, msg: "must be a list"},
	{name: "bad ntp server names", yaml: clockCam("clock_sync: ntp", "ntp_servers: [ok.example, \"bad host\", \"\", -x.org, ntp.example.]"),
		paths: []string{"cameras[0].onvif.ntp_servers[1]", "cameras[0].onvif.ntp_servers[2]", "cameras[0].onvif.ntp_servers[3]"},
		msg:   `cameras[0].onvif.ntp_servers[1]: "bad host" must be a host name or IP address`, line: 7},
	{name: "ntp server is a mapping", yaml: clockCam("clock_sync: ntp", "ntp_servers: [{host: a}]"),
		paths: []string{"cameras[0].onvif.ntp_servers[0]"}, msg: "must be a single value"},
	{name: "zero max clock skew", yaml: clockCam("max_clock_skew: 0s"), paths: []string{"cameras[0].onvif.max_clock_skew"},
		msg: "cameras[0].onvif.max_clock_skew: 0s must be positive (e.g. 30s)", line: 6},
	{name: "negative max clock skew", yaml: clockCam("max_clock_skew: -5s"), paths: []string{"cameras[0].onvif.max_clock_skew"},
		msg: "must be positive"},
	{name: "max clock skew without unit", yaml: clockCam("max_clock_skew: 30"), paths: []string{"cameras[0].onvif.max_clock_skew"},
		msg: `"30" is not a duration`},
	{name: "bad log level", yaml: "log: {level: verbose}\n" + minimalCam, paths: []string{"log.level"},
		msg: `log.level: "verbose" is not one of debug, info, warn, error`, line: 1},
	{name: "listen without port", yaml: "http: {listen: \"8089\"}\n" + minimalCam, paths: []string{"http.listen"},
		msg: "must be host:port", line: 1},
	{name: "listen with named port", yaml: "http: {listen: \"localhost:http\"}\n" + minimalCam, paths: []string{"http.listen"},
		msg: "not a number"},
	{name: "empty state dir", yaml: "state_dir: \"\"\n" + minimalCam, paths: []string{"state_dir"}, line: 1},
	{name: "insecure not a boolean", yaml: "cloud: {insecure: yes}\n" + minimalCam, paths: []string{"cloud.insecure"},
		msg: `"yes" is not one of true, false`},
	{name: "missing ca file", yaml: "cloud: {ca_file: /nonexistent/ca.pem}\n" + minimalCam, paths: []string{"cloud.ca_file"}},
	{name: "log is a scalar", yaml: "log: debug\n" + minimalCam, paths: []string{"log"}, msg: "must be a mapping of level"},
	{name: "cameras is a mapping", yaml: "cameras: {name: lobby}\n", paths: []string{"cameras"}, msg: "must be a list"},
	{name: "name is a list", yaml: "cameras:\n  - {name: [a], token: t, rtsp: rtsp://h/}\n", paths: []string{"cameras[0].name"},
		msg: "must be a single value"},
	{name: "duplicate camera name", yaml: `
cameras:
  - {name: lobby, token: a, rtsp: "rtsp://h/1"}
  - {name: yard, token: b, rtsp: "rtsp://h/2"}
  - {name: lobby, token: c, rtsp: "rtsp://h/3"}
`, paths: []string{"cameras[2].name"}, msg: `duplicate name "lobby" (also cameras[0])`, line: 5},
	{name: "name with space", yaml: "cameras:\n  - {name: lobby cam, token: t, rtsp: rtsp://h/}\n", paths: []string{"cameras[0].name"},
		msg: "1-64 characters"},
	{name: "name too long", yaml: "cameras:\n  - {name: " + strings.Repeat("a", 65) + ", token: t, rtsp: rtsp://h/}\n",
		paths: []string{"cameras[0].name"}},
	{name: "name missing", yaml: "cameras:\n  - {token: t, rtsp: rtsp://h/}\n", paths: []string{"cameras[0].name"}, msg: "is required", line: 2},
	// A key the file leaves out is reported at the entry it belongs in.
	{name: "token missing", yaml: "cameras:\n  - {name: lobby, rtsp: rtsp://h/}\n", paths: []string{"cameras[0].token"}, line: 2},
	{name: "token missing in the second camera", yaml: minimalCam + "  - name: yard\n    rtsp: rtsp://h/\n",
		paths: []string{"cameras[1].token"}, msg: "cameras[1].token: is required", line: 6},
	{name: "neither onvif nor rtsp", yaml: "cameras:\n  - {name: lobby, token: t}\n", paths: []string{"cameras[0]"},
		msg: "needs onvif.url or rtsp", line: 2},
	{name: "onvif url wrong scheme", yaml: "cameras:\n  - {name: lobby, token: t, onvif: {url: \"ftp://h/\"}}\n",
		paths: []string{"cameras[0].onvif.url"}, msg: "must use scheme http or https"},
	{name: "onvif url with credentials", yaml: "cameras:\n  - {name: lobby, token: t, onvif: {url: \"http://admin:hunter22@h/onvif\"}}\n",
		paths: []string{"cameras[0].onvif.url"}, msg: "must not carry user:password"},
	{name: "onvif url without host", yaml: "cameras:\n  - {name: lobby, token: t, onvif: {url: \"http:///onvif\"}}\n",
		paths: []string{"cameras[0].onvif.url"}, msg: "has no host"},
	{name: "rtsp url wrong scheme hides password", yaml: "cameras:\n  - {name: lobby, token: t, rtsp: \"http://admin:hunter2@h/\"}\n",
		paths: []string{"cameras[0].rtsp"}, msg: `"http://[redacted]@h/" must use scheme rtsp or rtsps`},
	{name: "bad pull warm", yaml: minimalCam + "    pull: {warm: sub}\n", paths: []string{"cameras[0].pull.warm"}, msg: `"sub" is not one of main, all, none`},
	{name: "pull idle too short", yaml: minimalCam + "    pull: {idle_timeout: 100ms}\n", paths: []string{"cameras[0].pull.idle_timeout"}, msg: "100ms must be between 1s and 1h"},
	{name: "custom event with a built-in name", yaml: minimalCam + "    events: {custom: [doorbell, motion]}\n",
		paths: []string{"cameras[0].events.custom[1]"}, msg: `"motion" is a built-in event name`},
	{name: "custom event with a bad name", yaml: minimalCam + "    events: {custom: [Door Bell]}\n",
		paths: []string{"cameras[0].events.custom[0]"}, msg: `"Door Bell" must be 1-32 characters of a-z 0-9 _ -`},
	{name: "duplicate custom event", yaml: minimalCam + "    events: {custom: [door, door]}\n",
		paths: []string{"cameras[0].events.custom[1]"}, msg: `duplicate event "door"`},
	{name: "size without number", yaml: "uploads: {spool_max: lots}\n" + minimalCam,
		paths: []string{"uploads.spool_max"}, msg: `"lots" is not a size (e.g. 64MiB, 1GB, 500000)`},
	{name: "spool too small", yaml: "uploads: {spool_max: 1MB}\n" + minimalCam,
		paths: []string{"uploads.spool_max"}, msg: "must be at least 16MiB"},
	{name: "burst without rate", yaml: "uploads: {burst: 1MiB}\n" + minimalCam,
		paths: []string{"uploads.burst"}, msg: "is only used with uploads.max_rate"},
	{name: "bad snapshot size", yaml: "events: {snapshot_max: 1280}\n" + minimalCam,
		paths: []string{"events.snapshot_max"}, msg: `"1280" is not WIDTHxHEIGHT`},
	{name: "memory limit too small", yaml: "memory_limit: 8MiB\n" + minimalCam, paths: []string{"memory_limit"},
		msg: "memory_limit: 8MiB must be off (or 0) or between 32MiB and 1TiB", line: 1},
	{name: "memory limit too large", yaml: "memory_limit: 2TiB\n" + minimalCam, paths: []string{"memory_limit"},
		msg: "2TiB must be off (or 0) or between 32MiB and 1TiB"},
	{name: "memory limit not a size", yaml: "memory_limit: unlimited\n" + minimalCam, paths: []string{"memory_limit"},
		msg: `memory_limit: "unlimited" is not a size (e.g. 64MiB, 1GB, 500000)`, line: 1},
	{name: "memory limit negative", yaml: "memory_limit: -1\n" + minimalCam, paths: []string{"memory_limit"},
		msg: `"-1" is not a size`},
	{name: "recording segment out of range", yaml: minimalCam + "    recording: {enabled: true, segment: 1s}\n",
		paths: []string{"cameras[0].recording.segment"}, msg: "1s must be between 10s and 10m"},
	{name: "recording stream unknown", yaml: minimalCam + "    recording: {stream: third}\n",
		paths: []string{"cameras[0].recording.stream"}, msg: `"third" is not one of main, sub`},
	{name: "recording budget too small", yaml: "recording: {max_size: 1MB}\n" + minimalCam,
		paths: []string{"recording.max_size"}, msg: "must be 0 (no limit but min_free) or at least 64MiB"},
	{name: "tiny prebuffer", yaml: "events: {prebuffer_memory: 1000}\n" + minimalCam,
		paths: []string{"events.prebuffer_memory"}, msg: "must be 0 (no pre-event video) or at least 1MiB"},
	{name: "bad rtsp transport", yaml: minimalCam + "    rtsp_transport: quic\n", paths: []string{"cameras[0].rtsp_transport"},
		msg: `"quic" is not one of tcp, udp`},
	{name: "timeout without unit", yaml: "cameras:\n  - {name: a, token: t, onvif: {url: \"http://h/\", timeout: 10}}\n",
		paths: []string{"cameras[0].onvif.timeout"}, msg: `"10" is not a duration`},
	{name: "zero timeout", yaml: "cameras:\n  - {name: a, token: t, onvif: {url: \"http://h/\", timeout: 0s}}\n",
		paths: []string{"cameras[0].onvif.timeout"}, msg: "must be positive"},
	{name: "duplicate nested key", yaml: minimalCam + "    onvif: {url: \"http://h/\"}\n", paths: []string{"cameras[0].onvif"},
		msg: "duplicate key (first set on line 5)", line: 6},
	{name: "duplicate key", yaml: "log: {level: info}\nlog: {level: debug}\n" + minimalCam, paths: []string{"log"},
		msg: "duplicate key (first set on line 1)", line: 2},
	{name: "merge of a scalar", yaml: "cameras:\n  - {name: a, token: t, rtsp: rtsp://h/, <<: 5}\n",
		paths: []string{"cameras[0].<<"}, msg: "must be a mapping or a list of mappings"},
	{name: "unknown key in merged mapping", yaml: "base: &b {url: \"http://h/\"}\n" + minimalCam,
		paths: []string{"base"}, line: 1},
	{name: "unknown key reached through a merge", yaml: `
cameras:
  - name: a
    token: t
    onvif: {<<: &b {url: "http://h/", usr: x}}
`, paths: []string{"cameras[0].onvif.usr"}, line: 5},
	{name: "alias bomb", yaml: `
cameras:
  - name: a
    token: t
    rtsp: rtsp://h/
    onvif:
      <<: &l1 {url: "http://h/"}
      <<: &l2 {<<: [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]}
      <<: &l3 {<<: [*l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2]}
      <<: &l4 {<<: [*l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3]}
      <<: &l5 {<<: [*l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4]}
      <<: &l6 {<<: [*l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5]}
      <<: &l7 {<<: [*l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6]}
`, paths: []string{"cameras[0].onvif.url"}, msg: "too many aliases"},
	{name: "unset env variable", yaml: "cameras:\n  - {name: a, token: \"${CAM_UNSET_TOKEN}\", rtsp: rtsp://h/}\n",
		paths: []string{"cameras[0].token"}, msg: "environment variable CAM_UNSET_TOKEN is not set", line: 2},
	{name: "unterminated env reference", yaml: "cameras:\n  - {name: a, token: \"${CAM_TOKEN\", rtsp: rtsp://h/}\n",
		paths: []string{"cameras[0].token"}, msg: `unterminated "${"`},
	{name: "invalid env name", yaml: "cameras:\n  - {name: a, token: \"${1X}\", rtsp: rtsp://h/}\n",
		paths: []string{"cameras[0].token"}, msg: `invalid environment variable name "1X"`},
	{name: "credential without directory", yaml: "cameras:\n  - {name: a, token: credential:tok, rtsp: rtsp://h/}\n",
		paths: []string{"cameras[0].token"}, msg: "CREDENTIALS_DIRECTORY is not set"},
	{name: "credential file missing", yaml: "cameras:\n  - {name: a, token: credential:tok, rtsp: rtsp://h/}\n",
		creds: map[string]string{"other": "x"}, paths: []string{"cameras[0].token"}, msg: `read credential "tok"`},
	{name: "credential name with slash", yaml: "cameras:\n  - {name: a, token: credential:../etc/shadow, rtsp: rtsp://h/}\n",
		creds: map[string]string{}, paths: []string{"cameras[0].token"}, msg: "must be a plain file name"},
	{name: "two documents", yaml: minimalCam + "---\n" + minimalCam, paths: []string{""}, msg: "only one YAML document"},
	{name: "several errors at once", yaml: `
log: {level: loud}
cameras:
  - name: ""
    token: ""
    onvif: {url: "gopher://h"}
  - name: ok
    token: t
    rtsp: rtsp://h/
    rtsp_transport: sctp
`, paths: []string{"log.level", "cameras[0].name", "cameras[0].token", "cameras[0].onvif.url", "cameras[1].rtsp_transport"}},
	// A value the decoder refused is not validated again, nor the keys
	// below it; the rest of the file is.
	{name: "refused values are reported once", yaml: `
http: {listen: [a, b]}
cameras:
  - name: lobby
    token: t
    onvif: "http://h/"
  - name: yard
    token: ${CAM_UNSET_TOKEN}
    rtsp: ftp://h/
`, paths: []string{"http.listen", "cameras[0]", "cameras[0].onvif", "cameras[1].token", "cameras[1].rtsp"}, msg: "must be a single value", line: 2},
	// A duplicate key keeps the first value, which is still validated.
	{name: "duplicate key and the first value validated", yaml: `
cameras:
  - name: lobby
    token: t
    onvif: {url: "ftp://h/"}
    onvif: {url: "http://h/"}
`,
		paths: []string{"cameras[0].onvif.url", "cameras[0].onvif"}, msg: "must use scheme http or https", line: 5},
	{name: "several validation errors at once", yaml: `
cameras:
  - name: ""
    token: ""
    onvif: {url: "gopher://h"}
`, paths: []string{"cameras", "cameras[0].name", "cameras[0].token", "cameras[0].onvif.url"}[1:]},
}

// clockCam is a camera whose onvif section holds the given extra lines.
func clockCam(lines ...string) string {
	s := "cameras:\n  - name: lobby\n    token: t\n    onvif:\n      url: \"http://h/onvif\"\n"
	for _, l := range lines {
		s += "      " + l + "\n"
	}
	return s
}

func setCaseEnv(t *testing.T, tc parseCase) {
	t.Helper()
	for k, v := range tc.env {
		t.Setenv(k, v)
	}
	if tc.creds == nil {
		t.Setenv("CREDENTIALS_DIRECTORY", "")
		return
	}
	dir := t.TempDir()
	for name, data := range tc.creds {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			setCaseEnv(t, tc)
			cfg, err := Parse([]byte(tc.yaml), "test.yaml")
			if tc.paths == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				tc.check(t, cfg)
				if err := cfg.Validate(); err != nil {
					t.Errorf("Validate after Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse succeeded, want errors at %q", tc.paths)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config along with error %v", err)
			}
			fes := FieldErrors(err)
			var paths []string
			for _, fe := range fes {
				paths = append(paths, fe.Path)
				if fe.Source != "test.yaml" {
					t.Errorf("error %q: source %q, want test.yaml", fe, fe.Source)
				}
			}
			if !slices.Equal(paths, tc.paths) {
				t.Fatalf("error paths = %q, want %q\nerror: %v", paths, tc.paths, err)
			}
			first := fes[0]
			if !strings.Contains(first.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", first, tc.msg)
			}
			if tc.line != 0 && first.Line != tc.line {
				t.Errorf("error %q: line %d, want %d", first, first.Line, tc.line)
			}
			if tc.line != 0 && !strings.HasPrefix(first.Error(), "test.yaml:"+strconv.Itoa(tc.line)+": ") {
				t.Errorf("error %q does not start with file:line", first)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks a password: %v", err)
			}
		})
	}
}

func TestParseSyntaxErrorNamesFileAndLine(t *testing.T) {
	_, err := Parse([]byte("log:\n  level: info\ncameras: x: y\n"), "cam.yaml")
	if err == nil {
		t.Fatal("Parse accepted broken YAML")
	}
	if !strings.HasPrefix(err.Error(), "cam.yaml:3: YAML syntax: ") {
		t.Errorf("error %q does not start with file:line like the other config errors", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "camagent.yaml")
	if err := os.WriteFile(path, []byte(minimalCam+"    bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":6: cameras[0].bogus: unknown key") {
		t.Fatalf("Load error = %v", err)
	}

	if err := os.WriteFile(path, []byte(minimalCam), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil || cfg.Cameras[0].Name != "lobby" {
		t.Fatalf("Load = %+v, %v", cfg, err)
	}

	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of missing file = %v, want ErrNotExist", err)
	}

	big := minimalCam + "#" + strings.Repeat("x", maxFileSize) + "\n"
	if err := os.WriteFile(path, []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load of oversized file = %v", err)
	}
}

// A config built in code gets the same checks, without file positions.
func TestValidateBuiltInCode(t *testing.T) {
	cfg := Default()
	cfg.Cameras = []Camera{{Name: "lobby", Token: NewSecret("t"), RTSP: NewSecretURL("rtsp://h/"),
		ONVIF: ONVIF{MaxClockSkew: DefaultMaxClockSkew}, Pull: Pull{IdleTimeout: DefaultPullIdleTimeout}}}
	err := cfg.Validate()
	fes := FieldErrors(err)
	if len(fes) != 1 || fes[0].Path != "cameras[0].onvif.timeout" || fes[0].Error() != "cameras[0].onvif.timeout: 0s must be positive (e.g. 10s)" {
		t.Fatalf("Validate = %v", err)
	}
	cfg.Cameras[0].ONVIF.Timeout = DefaultONVIFTimeout
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	// A mode set in code beyond the known ones is named, not accepted.
	cfg.Cameras[0].ONVIF.ClockSync = ClockSync(9)
	if fes := FieldErrors(cfg.Validate()); len(fes) != 1 || fes[0].Error() != "cameras[0].onvif.clock_sync: 9 is not one of off, gateway, ntp" {
		t.Fatalf("Validate = %v", fes)
	}
}

func TestExampleConfigParses(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "lobby-onvif-password"), []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	t.Setenv("CAMAGENT_LOBBY_TOKEN", "dG9rZW4")
	cfg, err := Load(filepath.Join("..", "packaging", "camagent.example.yaml"))
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	want := Default()
	if cfg.StateDir != want.StateDir || cfg.HTTP != want.HTTP || cfg.Log.Level != want.Log.Level || cfg.Cloud != want.Cloud ||
		cfg.MemoryLimit != want.MemoryLimit ||
		cfg.Events != want.Events || cfg.Uploads != want.Uploads || cfg.Recording != want.Recording {
		t.Errorf("example config top level differs from defaults: %+v", cfg)
	}
	if cfg.Cameras[0].ONVIF.Password.Reveal() != "secret" || cfg.Cameras[0].ONVIF.Timeout != DefaultONVIFTimeout ||
		cfg.Cameras[0].RTSPTransport != RTSPTransportTCP || cfg.Cameras[0].ONVIF.ClockSync != ClockSyncOff ||
		len(cfg.Cameras[0].ONVIF.NTPServers) != 0 || cfg.Cameras[0].ONVIF.MaxClockSkew != DefaultMaxClockSkew ||
		cfg.Cameras[0].Recording != defaultCamera().Recording {
		t.Errorf("example camera = %+v", cfg.Cameras[0])
	}
}

// TestMemoryLimit: a size, off or 0; the default suits a 512 MB gateway.
func TestMemoryLimit(t *testing.T) {
	if d := Default().MemoryLimit; d != 256<<20 || d.String() != "256MiB" {
		t.Errorf("default memory_limit = %s", d)
	}
	for text, want := range map[string]MemoryLimit{"off": 0, "OFF": 0, "0": 0, "\"0\"": 0, "128MiB": 128 << 20, "1GB": 1e9, "32MiB": 32 << 20} {
		cfg, err := Parse([]byte("memory_limit: "+text+"\n"+minimalCam), "test.yaml")
		if err != nil {
			t.Errorf("memory_limit: %s: %v", text, err)
			continue
		}
		if cfg.MemoryLimit != want {
			t.Errorf("memory_limit: %s = %d, want %d", text, cfg.MemoryLimit, want)
		}
	}
	if s := MemoryLimit(0).String(); s != "off" {
		t.Errorf("off prints as %q", s)
	}
}

func TestClockSync(t *testing.T) {
	for _, name := range []string{"off", "gateway", "ntp"} {
		c, err := ParseClockSync(strings.ToUpper(name))
		if err != nil {
			t.Fatal(err)
		}
		if b, err := c.MarshalText(); err != nil || string(b) != name || c.String() != name {
			t.Errorf("clock sync %q: MarshalText %q %v, String %q", name, b, err, c)
		}
	}
	var zero ClockSync
	if zero != ClockSyncOff {
		t.Errorf("zero clock sync = %v, want off", zero)
	}
	if _, err := ClockSync(7).MarshalText(); err == nil {
		t.Error("MarshalText accepted an unknown mode")
	}
}

func TestLevel(t *testing.T) {
	for _, name := range []string{"debug", "info", "warn", "error"} {
		l, err := ParseLevel(name)
		if err != nil {
			t.Fatal(err)
		}
		if l.String() != name || l.ZapLevel().String() != name {
			t.Errorf("level %q: String %q, zap %q", name, l, l.ZapLevel())
		}
	}
	var zero Level
	if zero != LevelInfo {
		t.Errorf("zero level = %v, want info", zero)
	}
}

func seedName(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, name)
}

// FuzzParse checks that no input panics Parse and that whatever Parse
// accepts also passes Validate. Seeds come from the table (and are kept as
// files under testdata/fuzz/FuzzParse, regenerated with -update-seeds).
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		for k, v := range tc.env {
			f.Setenv(k, v)
		}
		f.Add([]byte(tc.yaml))
		if *updateSeeds {
			seed := "go test fuzz v1\n[]byte(" + strconv.Quote(tc.yaml) + ")\n"
			path := filepath.Join("testdata", "fuzz", "FuzzParse", seedName(tc.name))
			if err := os.WriteFile(path, []byte(seed), 0o644); err != nil {
				f.Fatal(err)
			}
		}
	}
	f.Setenv("CREDENTIALS_DIRECTORY", "")
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if cfg != nil {
				t.Fatalf("config returned with error %v", err)
			}
			_ = err.Error()
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a config Validate rejects: %v", err)
		}
	})
}

func TestParseCapsErrorCount(t *testing.T) {
	var b strings.Builder
	for i := range 50 {
		b.WriteString("bogus" + strconv.Itoa(i) + ": 1\n")
	}
	_, err := Parse([]byte(b.String()), "many.yaml")
	fes := FieldErrors(err)
	if len(fes) != maxErrors+1 || !strings.Contains(fes[maxErrors].Msg, "too many errors") {
		t.Fatalf("got %d errors, want %d ending in 'too many errors': %v", len(fes), maxErrors+1, err)
	}
}

// TestMediaKeys: sizes are read in the units people write, and the events
// and uploads sections reach the Config.
func TestMediaKeys(t *testing.T) {
	cfg, err := Parse([]byte("events: {prebuffer_memory: 32MiB, snapshot_max: 640x480}\n"+
		"uploads: {spool_max: 2GB, min_free: 1GiB, max_rate: 1.5MB, burst: 512KiB}\n"+minimalCam+
		"    events: {custom: [doorbell, line-crossing]}\n"), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Events; got.PrebufferMemory != 32<<20 || got.SnapshotMax != (Dimensions{640, 480}) {
		t.Errorf("events = %+v", got)
	}
	if got := cfg.Uploads; got != (Uploads{SpoolMax: 2e9, MinFree: 1 << 30, MaxRate: 1.5e6, Burst: 512 << 10}) {
		t.Errorf("uploads = %+v", got)
	}
	rc, err := Parse([]byte("recording: {dir: /mnt/rec, max_size: 500GB}\n"+minimalCam+"    recording: {enabled: true, stream: sub, segment: 2m}\n"), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if rc.RecordingDir() != "/mnt/rec" || rc.Recording != (Recording{Dir: "/mnt/rec", MaxSize: 500e9, MinFree: DefaultRecordingMinFree}) ||
		rc.Cameras[0].Recording != (CameraRecording{Enabled: true, Stream: RecordingStreamSub, Segment: 2 * time.Minute}) {
		t.Errorf("recording = %+v, camera %+v", rc.Recording, rc.Cameras[0].Recording)
	}
	if got := cfg.Cameras[0].Events.Custom; !slices.Equal(got, []string{"doorbell", "line-crossing"}) {
		t.Errorf("custom events = %v", got)
	}
	d := Default()
	if d.RecordingDir() != DefaultStateDir+"/recordings" || d.Recording.MinFree.String() != "1GiB" || d.Recording.MaxSize != 0 {
		t.Errorf("recording defaults %q %+v", d.RecordingDir(), d.Recording)
	}
	if d.Events.PrebufferMemory.String() != "96MiB" || d.Uploads.SpoolMax.String() != "1GiB" || d.Events.SnapshotMax.String() != "1280x720" {
		t.Errorf("defaults %s %s %s", d.Events.PrebufferMemory, d.Uploads.SpoolMax, d.Events.SnapshotMax)
	}
}
