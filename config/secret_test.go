package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.yaml.in/yaml/v3"
)

// leakyConfig holds secrets that all contain "SECRET", so any output that
// contains that word leaked one.
func leakyConfig() *Config {
	cfg := Default()
	cfg.Cameras = []Camera{{
		Name:  "lobby",
		Token: NewSecret("tok-SECRET-1"),
		ONVIF: ONVIF{URL: "http://h/onvif", Username: "admin", Password: NewSecret("pw-SECRET-2"), Timeout: DefaultONVIFTimeout},
		RTSP:  NewSecretURL("rtsp://admin:pw-SECRET-3@cam.local:554/live?password=pw-SECRET-4"),
	}}
	return cfg
}

func TestSecretsNeverPrinted(t *testing.T) {
	cfg := leakyConfig()
	cam := cfg.Cameras[0]
	values := map[string]any{
		"config": cfg, "*config": *cfg, "camera": cam, "token": cam.Token, "password": &cam.ONVIF.Password,
		"rtsp": cam.RTSP, "onvif": cam.ONVIF,
	}
	var outputs []string
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
			outputs = append(outputs, name+" "+verb+": "+fmt.Sprintf(verb, v))
		}
		outputs = append(outputs, name+" Sprint: "+fmt.Sprint(v), name+" Sprintln: "+fmt.Sprintln(v))
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json %s: %v", name, err)
		}
		outputs = append(outputs, name+" json: "+string(j))
		y, err := yaml.Marshal(v)
		if err != nil {
			t.Fatalf("yaml %s: %v", name, err)
		}
		outputs = append(outputs, name+" yaml: "+string(y))
	}

	var buf bytes.Buffer
	for _, enc := range []zapcore.Encoder{
		zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()),
	} {
		log := zap.New(zapcore.NewCore(enc, zapcore.AddSync(&buf), zapcore.DebugLevel))
		log.Info("start", zap.Any("config", cfg), zap.Any("camera", cam), zap.Any("token", cam.Token),
			zap.Stringer("password", cam.ONVIF.Password), zap.Any("rtsp", cam.RTSP), zap.Reflect("onvif", cam.ONVIF))
	}
	outputs = append(outputs, "zap: "+buf.String())

	for _, out := range outputs {
		if strings.Contains(out, "SECRET") {
			t.Errorf("secret leaked: %s", out)
		}
	}
	// The redaction must still be visible, not an empty string.
	if !strings.Contains(buf.String(), "[redacted]") || !strings.Contains(buf.String(), "cam.local:554/live") {
		t.Errorf("zap output lacks the redacted forms: %s", buf.String())
	}

	if cam.Token.Reveal() != "tok-SECRET-1" || cam.ONVIF.Password.Reveal() != "pw-SECRET-2" ||
		cam.RTSP.Reveal() != "rtsp://admin:pw-SECRET-3@cam.local:554/live?password=pw-SECRET-4" {
		t.Errorf("Reveal lost the values")
	}
}

func TestSecretForms(t *testing.T) {
	cases := []struct {
		name string
		got  string
		want string
	}{
		{"empty secret", Secret{}.String(), ""},
		{"secret", NewSecret("x").String(), "[redacted]"},
		{"secret gostring", fmt.Sprintf("%#v", NewSecret("x")), `config.Secret("[redacted]")`},
		{"secret quoted", fmt.Sprintf("%q", NewSecret("x")), `"[redacted]"`},
		{"empty url", SecretURL{}.String(), ""},
		{"url without credentials", NewSecretURL("rtsp://cam:554/live").String(), "rtsp://cam:554/live"},
		{"url with userinfo", NewSecretURL("rtsp://admin:pw@cam/live").String(), "rtsp://[redacted]@cam/live"},
		{"url with user only", NewSecretURL("rtsp://admin@cam/live").String(), "rtsp://[redacted]@cam/live"},
		{"url with query", NewSecretURL("rtsp://cam/live?user=a&password=b").String(), "rtsp://cam/live?[redacted]"},
		{"url with fragment", NewSecretURL("rtsp://cam/live#pw").String(), "rtsp://cam/live"},
		{"unparsable url", NewSecretURL("rtsp://a:b@[::1/x").String(), "[redacted]"},
		{"not a url", NewSecretURL("admin:pw@cam").String(), "[redacted]"},
		{"url gostring", fmt.Sprintf("%#v", NewSecretURL("rtsp://a:b@h/")), `config.SecretURL("rtsp://[redacted]@h/")`},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	j, _ := json.Marshal(struct{ A, B Secret }{B: NewSecret("x")})
	if string(j) != `{"A":"","B":"[redacted]"}` {
		t.Errorf("json = %s", j)
	}
}
