package uplink_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink"
)

// Spec vectors of docs/protocol.md#direct-upload (v112, v125, v141, v144).
const (
	v112 = `{"cmd":"direct_upload_url","msgid":1057,"refid":55,"orig_cmd":"cam_event","cam_id":310042,"event_id":9912345,"status":"OK","category":"snapshot","url":"https://storage.vms.example.net/b/310042/snap/20240314T092653512.jpg?X-Expires=3600&X-Sig=ab12cd34","headers":{"Content-Type":"image/jpeg","Content-Length":"84213"},"expire":"20240314T102653.512"}`
	v125 = `{"cmd":"direct_upload_url","msgid":1058,"refid":67,"orig_cmd":"cam_event","cam_id":310042,"status":"OK","category":"snapshot","url":"https://storage.vms.example.net/b/310042/snap/20240314T093000125.jpg?X-Sig=ee01","headers":{"Content-Type":"image/jpeg","Content-Length":"90311"},"extra":[{"category":"file_meta","status":"OK","url":"https://storage.vms.example.net/b/310042/meta/20240314T093000125.json?X-Sig=ee02","headers":{"Content-Type":"application/octet-stream","Content-Length":"312"}}]}`
	v141 = `{"cmd":"direct_upload_url","msgid":1064,"refid":77,"orig_cmd":"get_direct_upload_url","cam_id":310042,"status":"OK","category":"record","url":"https://storage.vms.example.net/b/310042/rec/20240314T092643512.mp4?X-Sig=9f9f","headers":{"Content-Type":"video/mp4","Content-Length":"2883584"},"expire":"20240314T102643.512"}`
	v144 = `{"cmd":"direct_upload_url","msgid":1065,"refid":79,"orig_cmd":"get_direct_upload_url","cam_id":310042,"status":"ERROR","category":"record"}`
)

// dup is a direct_upload_url with refid 1 and the given fields.
func dup(fields string) string {
	return `{"cmd":"direct_upload_url","msgid":9,"refid":1,"orig_cmd":"cam_event",` + fields + `}`
}

const okMain = `"status":"OK","url":"https://s.example/x?sig=1","headers":{"Content-Type":"image/jpeg"}`

var directCases = []struct {
	name   string
	msg    string
	mainOK bool
	want   []uplink.UploadTarget
}{
	{name: "vector v112 snapshot", msg: v112, mainOK: true, want: []uplink.UploadTarget{{Category: "snapshot",
		URL:     "https://storage.vms.example.net/b/310042/snap/20240314T092653512.jpg?X-Expires=3600&X-Sig=ab12cd34",
		Headers: map[string]string{"Content-Type": "image/jpeg", "Content-Length": "84213"},
		Expire:  time.Date(2024, 3, 14, 10, 26, 53, 512e6, time.UTC), EventID: 9912345}}},
	{name: "vector v125 snapshot and file_meta", msg: v125, mainOK: true, want: []uplink.UploadTarget{
		{Category: "snapshot", URL: "https://storage.vms.example.net/b/310042/snap/20240314T093000125.jpg?X-Sig=ee01",
			Headers: map[string]string{"Content-Type": "image/jpeg", "Content-Length": "90311"}},
		{Category: "file_meta", URL: "https://storage.vms.example.net/b/310042/meta/20240314T093000125.json?X-Sig=ee02",
			Headers: map[string]string{"Content-Type": "application/octet-stream", "Content-Length": "312"}}}},
	{name: "vector v141 record", msg: v141, mainOK: true, want: []uplink.UploadTarget{{Category: "record",
		URL:     "https://storage.vms.example.net/b/310042/rec/20240314T092643512.mp4?X-Sig=9f9f",
		Headers: map[string]string{"Content-Type": "video/mp4", "Content-Length": "2883584"},
		Expire:  time.Date(2024, 3, 14, 10, 26, 43, 512e6, time.UTC)}}},
	{name: "vector v144 refused", msg: v144},
	{name: "no category, http, empty headers", msg: dup(`"status":"OK","url":"http://10.0.0.1:9000/b","headers":{}`), mainOK: true,
		want: []uplink.UploadTarget{{URL: "http://10.0.0.1:9000/b", Headers: map[string]string{}}}},
	{name: "status absent", msg: dup(`"url":"https://s.example/x","headers":{}`)},
	{name: "status CM_ERROR", msg: dup(`"status":"CM_ERROR","url":"https://s.example/x","headers":{}`)},
	{name: "no url", msg: dup(`"status":"OK","headers":{}`)},
	{name: "no headers", msg: dup(`"status":"OK","url":"https://s.example/x"`)},
	{name: "null headers", msg: dup(`"status":"OK","url":"https://s.example/x","headers":null`)},
	{name: "number header value", msg: dup(`"status":"OK","url":"https://s.example/x","headers":{"Content-Length":84213}`)},
	{name: "headers a list", msg: dup(`"status":"OK","url":"https://s.example/x","headers":["a"]`)},
	{name: "header splits the request", msg: dup(`"status":"OK","url":"https://s.example/x","headers":{"X-A":"1\r\nX-B: 2"}`)},
	{name: "header name with space", msg: dup(`"status":"OK","url":"https://s.example/x","headers":{"Content Type":"a"}`)},
	{name: "header twice in two spellings", msg: dup(`"status":"OK","url":"https://s.example/x","headers":{"content-type":"a","Content-Type":"b"}`)},
	{name: "ftp url", msg: dup(`"status":"OK","url":"ftp://s.example/x","headers":{}`)},
	{name: "relative url", msg: dup(`"status":"OK","url":"/b/x.jpg","headers":{}`)},
	{name: "url a number", msg: dup(`"status":"OK","url":5,"headers":{}`)},
	{name: "unparseable url", msg: dup(`"status":"OK","url":"https://s.example/%zz","headers":{}`)},
	{name: "expire not packed-time", msg: dup(okMain + `,"expire":"2024-03-14T10:26:53Z"`)},
	{name: "expire a number", msg: dup(okMain + `,"expire":20240314`)},
	{name: "expire without fraction", msg: dup(okMain + `,"expire":"20240314T102653"`), mainOK: true, want: []uplink.UploadTarget{
		{URL: "https://s.example/x?sig=1", Headers: map[string]string{"Content-Type": "image/jpeg"}, Expire: time.Date(2024, 3, 14, 10, 26, 53, 0, time.UTC)}}},
	{name: "category a number", msg: dup(okMain + `,"category":1`)},
	{name: "event_id a string is ignored", msg: dup(okMain + `,"event_id":"x"`), mainOK: true, want: []uplink.UploadTarget{
		{URL: "https://s.example/x?sig=1", Headers: map[string]string{"Content-Type": "image/jpeg"}}}},
	{name: "main refused, extra usable", mainOK: false,
		msg:  dup(`"status":"ERROR","category":"snapshot","event_id":7,"extra":[{"category":"file_meta","status":"OK","url":"https://s.example/m","headers":{"Content-Type":"application/octet-stream"}}]`),
		want: []uplink.UploadTarget{{Category: "file_meta", URL: "https://s.example/m", Headers: map[string]string{"Content-Type": "application/octet-stream"}, EventID: 7}}},
	{name: "extra entries bad and good", mainOK: true,
		msg: dup(okMain + `,"category":"snapshot","extra":[5,{"category":"file_meta","status":"ERROR"},{"category":"file_meta","url":"https://s.example/m","headers":{}},{"category":"record","status":"OK","url":"https://s.example/r","headers":{"A":"1"},"event_id":3}]`),
		want: []uplink.UploadTarget{{Category: "snapshot", URL: "https://s.example/x?sig=1", Headers: map[string]string{"Content-Type": "image/jpeg"}},
			{Category: "record", URL: "https://s.example/r", Headers: map[string]string{"A": "1"}, EventID: 3}}},
	{name: "extra not a list", msg: dup(okMain + `,"extra":{"status":"OK"}`), mainOK: true,
		want: []uplink.UploadTarget{{URL: "https://s.example/x?sig=1", Headers: map[string]string{"Content-Type": "image/jpeg"}}}},
}

// TestDecodeDirectUploadURL reads the spec's direct_upload_url vectors and
// what a sloppy or hostile cloud may send: a bad value makes its entry
// unusable and nothing else.
func TestDecodeDirectUploadURL(t *testing.T) {
	for _, c := range directCases {
		t.Run(c.name, func(t *testing.T) {
			g, mainOK, err := uplink.DecodeDirectUploadURL([]byte(c.msg))
			if err != nil {
				t.Fatal(err)
			}
			if mainOK != c.mainOK {
				t.Errorf("main usable %v, want %v", mainOK, c.mainOK)
			}
			if len(g.Targets) != len(c.want) || (len(c.want) > 0 && !reflect.DeepEqual(g.Targets, c.want)) {
				t.Errorf("targets\n%+v\nwant\n%+v", g.Targets, c.want)
			}
		})
	}
}

func TestGrantFor(t *testing.T) {
	snap := uplink.UploadTarget{Category: uplink.CategorySnapshot, URL: "https://s/1"}
	meta := uplink.UploadTarget{Category: uplink.CategoryFileMeta, URL: "https://s/2"}
	anon := uplink.UploadTarget{URL: "https://s/3"}
	for _, c := range []struct {
		name string
		g    uplink.UploadGrant
		cat  string
		want string // URL, "" = none
	}{
		{"by category", uplink.UploadGrant{Targets: []uplink.UploadTarget{snap, meta}}, uplink.CategoryFileMeta, "https://s/2"},
		{"category not granted", uplink.UploadGrant{Targets: []uplink.UploadTarget{snap}}, uplink.CategoryFileMeta, ""},
		{"only entry without category is for anything", uplink.UploadGrant{Targets: []uplink.UploadTarget{anon}}, uplink.CategoryRecord, "https://s/3"},
		{"entry without category among others is for nothing", uplink.UploadGrant{Targets: []uplink.UploadTarget{snap, anon}}, uplink.CategoryFileMeta, ""},
		{"empty grant", uplink.UploadGrant{}, uplink.CategorySnapshot, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := c.g.For(c.cat)
			if ok != (c.want != "") || got.URL != c.want {
				t.Errorf("For(%s) = %+v, %v; want %q", c.cat, got, ok, c.want)
			}
		})
	}
}

// FuzzDirectUploadURL feeds the decoder anything: it must not panic, and
// every target it calls usable must be one PutUpload can send.
func FuzzDirectUploadURL(f *testing.F) {
	for _, c := range directCases {
		f.Add(c.msg)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		g, mainOK, err := uplink.DecodeDirectUploadURL([]byte(msg))
		if err != nil {
			return
		}
		if mainOK && len(g.Targets) == 0 {
			t.Fatal("main usable but no target")
		}
		for _, tg := range g.Targets {
			u, err := url.Parse(tg.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				t.Fatalf("usable target with url %q", tg.URL)
			}
			if tg.Headers == nil {
				t.Fatal("usable target without headers")
			}
			for k, v := range tg.Headers {
				if k == "" || strings.ContainsAny(k, " :\r\n") || strings.ContainsAny(v, "\r\n\x00") {
					t.Fatalf("usable target with header %q: %q", k, v)
				}
			}
		}
	})
}

// TestGetDirectUploadURLWire encodes the spec's requests (v140, v146)
// field for field.
func TestGetDirectUploadURLWire(t *testing.T) {
	for _, c := range []struct {
		name string
		body uplink.GetDirectUploadURL
		want string
	}{
		{"vector v140 record", uplink.GetDirectUploadURL{Category: uplink.CategoryRecord, Type: uplink.UploadMP4, StreamID: "Main",
			FileTime: uplink.PackedTime{Time: time.Date(2024, 3, 14, 9, 26, 43, 512e6, time.UTC)}, Duration: 15000, Size: 2883584},
			`{"cmd":"get_direct_upload_url","msgid":77,"cam_id":310042,"category":"record","type":"mp4","stream_id":"Main","file_time":"20240314T092643.512","duration":15000,"size":2883584}`},
		{"vector v146 snapshot", uplink.GetDirectUploadURL{Category: uplink.CategorySnapshot, Type: uplink.UploadJPEG,
			FileTime: uplink.PackedTime{Time: time.Date(2024, 3, 14, 9, 35, 0, 0, time.UTC)}, Size: 60210, Width: 1280, Height: 720},
			`{"cmd":"get_direct_upload_url","msgid":81,"cam_id":310042,"category":"snapshot","type":"jpg","file_time":"20240314T093500.000","size":60210,"width":1280,"height":720}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var want map[string]any
			json.Unmarshal([]byte(c.want), &want)
			b, err := uplink.EncodeMessage(uplink.Envelope{Cmd: uplink.CmdGetDirectUploadURL, MsgID: int64(want["msgid"].(float64)), CamID: 310042}, c.body)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			json.Unmarshal(b, &got)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %s\nwant %s", b, c.want)
			}
		})
	}
}

// TestRequestUploadChecksTheBody: a request the cloud would not answer
// with direct_upload_url is refused before anything is sent (the session
// here never connected, so a body that passes gets ErrNotReady).
func TestRequestUploadChecksTheBody(t *testing.T) {
	s := uplink.NewSession(uplink.Options{})
	ft := uplink.PackedTime{Time: time.Date(2024, 3, 14, 9, 26, 43, 512e6, time.UTC)}
	rec := func(mod func(*uplink.GetDirectUploadURL)) *uplink.GetDirectUploadURL {
		g := &uplink.GetDirectUploadURL{Category: uplink.CategoryRecord, Type: uplink.UploadMP4, StreamID: "Main", FileTime: ft, Duration: 15000, Size: 1}
		mod(g)
		return g
	}
	snapEvent := &uplink.CamEvent{Event: "snapshot", Time: uplink.EpochTime{Time: ft.Time},
		SnapshotInfo: &uplink.SnapshotInfo{ImageTime: ft, Width: 1280, Height: 720, Size: 9}}
	for _, c := range []struct {
		name  string
		cmd   string
		body  any
		param bool // a *ParamError; else another refusal
		ok    bool // passes the checks
	}{
		{"record", uplink.CmdGetDirectUploadURL, rec(func(*uplink.GetDirectUploadURL) {}), false, true},
		{"snapshot event", uplink.CmdCamEvent, snapEvent, false, true},
		{"file_meta event", uplink.CmdCamEvent, &uplink.CamEvent{Event: "x", Time: uplink.EpochTime{Time: ft.Time}, FileMetaInfo: &uplink.FileMetaInfo{Size: 3}}, false, true},
		{"record without stream", uplink.CmdGetDirectUploadURL, rec(func(g *uplink.GetDirectUploadURL) { g.StreamID = "" }), true, false},
		{"record without duration", uplink.CmdGetDirectUploadURL, rec(func(g *uplink.GetDirectUploadURL) { g.Duration = 0 }), true, false},
		{"record as jpg", uplink.CmdGetDirectUploadURL, rec(func(g *uplink.GetDirectUploadURL) { g.Type = uplink.UploadJPEG }), true, false},
		{"snapshot without size px", uplink.CmdGetDirectUploadURL, rec(func(g *uplink.GetDirectUploadURL) { g.Category, g.Type = uplink.CategorySnapshot, uplink.UploadJPEG }), true, false},
		{"file_meta is not asked for this way", uplink.CmdGetDirectUploadURL, rec(func(g *uplink.GetDirectUploadURL) { g.Category = uplink.CategoryFileMeta }), true, false},
		{"empty file", uplink.CmdGetDirectUploadURL, rec(func(g *uplink.GetDirectUploadURL) { g.Size = 0 }), true, false},
		{"no file_time", uplink.CmdGetDirectUploadURL, rec(func(g *uplink.GetDirectUploadURL) { g.FileTime = uplink.PackedTime{} }), true, false},
		{"event without attachment", uplink.CmdCamEvent, &uplink.CamEvent{Event: "x", Time: uplink.EpochTime{Time: ft.Time}}, false, false},
		{"body of the other command", uplink.CmdCamEvent, rec(func(*uplink.GetDirectUploadURL) {}), false, false},
		{"command without grant", uplink.CmdCamStatus, map[string]any{}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.RequestUpload(context.Background(), c.cmd, c.body)
			var pe *uplink.ParamError
			switch {
			case c.ok && !errors.Is(err, uplink.ErrNotReady):
				t.Errorf("got %v, want ErrNotReady (checks passed)", err)
			case !c.ok && (err == nil || errors.Is(err, uplink.ErrNotReady)):
				t.Errorf("got %v, want a refusal", err)
			case !c.ok && errors.As(err, &pe) != c.param:
				t.Errorf("got %v, ParamError %v", err, c.param)
			}
		})
	}
}
