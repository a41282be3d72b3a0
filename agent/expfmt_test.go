package agent

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/camagent/camagent/demo/rig"
)

// clientGolangText is what prometheus/client_golang v1.25 (registry plus
// expfmt) wrote for the samples exposeSamples adds: the format we keep.
const clientGolangText = `# HELP x_big Big.
# TYPE x_big gauge
x_big +Inf
# HELP x_frames_total Frames \\ by "kind"\nsecond line.
# TYPE x_frames_total counter
x_frames_total{camera="a",kind="video",stream="Sub"} 1e+21
x_frames_total{camera="door \"front\"\\back\nside",kind="audio",stream="Main"} 1.2345678901e+10
x_frames_total{camera="door \"front\"\\back\nside",kind="video",stream="Main"} 0.5
x_frames_total{camera="yard",kind="video",stream="Main"} 3
# HELP x_gc_seconds Pauses.
# TYPE x_gc_seconds summary
x_gc_seconds{quantile="0"} 0.001
x_gc_seconds{quantile="0.25"} 0.002
x_gc_seconds{quantile="0.5"} 0.003
x_gc_seconds{quantile="0.75"} 0.004
x_gc_seconds{quantile="1"} 0.01
x_gc_seconds_sum 0.25
x_gc_seconds_count 7
# HELP x_odd Odd.
# TYPE x_odd gauge
x_odd{v=""} -Inf
x_odd{v="x"} NaN
x_odd{v="é"} -1e-06
`

const oddCamera = "door \"front\"\\back\nside"

func exposeSamples() *exposition {
	frames := newDesc("x_frames_total", "counter", "Frames \\ by \"kind\"\nsecond line.", "camera", "stream", "kind")
	odd := newDesc("x_odd", "gauge", "Odd.", "v")
	var e exposition
	e.add(odd, math.NaN(), "x")
	e.add(frames, 3, "yard", "Main", "video")
	e.add(frames, 12345678901, oddCamera, "Main", "audio")
	e.add(frames, 0.5, oddCamera, "Main", "video")
	e.add(frames, 1e21, "a", "Sub", "video")
	e.add(newDesc("x_big", "gauge", "Big."), math.Inf(1))
	e.add(odd, math.Inf(-1), "")
	e.add(odd, -0.000001, "é")
	e.summary(newDesc("x_gc_seconds", "summary", "Pauses."), []quantile{{0, 0.001}, {0.25, 0.002}, {0.5, 0.003}, {0.75, 0.004}, {1, 0.01}}, 0.25, 7)
	return &e
}

// TestExpositionAsClientGolang: families by name, labels by name, series by
// label values, escaping of backslash, quote and newline, and the float
// spellings are what scrapers got from the Prometheus client library.
func TestExpositionAsClientGolang(t *testing.T) {
	var b bytes.Buffer
	if err := exposeSamples().write(bufio.NewWriter(&b)); err != nil {
		t.Fatal(err)
	}
	if b.String() != clientGolangText {
		t.Errorf("exposition:\n%s\nwant (client_golang):\n%s", b.String(), clientGolangText)
	}
	fams := parseExposition(t, b.String())
	if got := fams["x_frames_total"].series[1].labels["camera"]; got != oddCamera {
		t.Errorf("camera label reads back as %q, want %q", got, oddCamera)
	}
	if got := fams["x_frames_total"].help; got != "Frames \\ by \"kind\"\nsecond line." {
		t.Errorf("help reads back as %q", got)
	}
}

// TestMetricsFormatIsStrict parses a real scrape, plain and gzipped, with a
// strict parser of the text format, and holds the agent's own metrics to the
// naming rules Prometheus' linter checks.
func TestMetricsFormatIsStrict(t *testing.T) {
	r, _, statusURL := runRig(t, rig.Options{})
	waitReady(t, r)
	waitFor(t, "video frames counted", func() bool {
		v, _ := scrapeMetrics(t, statusURL).value(`camagent_rtsp_video_frames_total{camera="demo",stream="Main"}`)
		return v > 0
	})
	for _, enc := range []string{"identity", "gzip"} {
		req, _ := http.NewRequest(http.MethodGet, statusURL+"/metrics", nil)
		req.Header.Set("Accept-Encoding", enc) // set: the client does not gunzip
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != textContentType {
			t.Errorf("%s: Content-Type %q", enc, ct)
		}
		if got := resp.Header.Get("Content-Encoding"); (got == "gzip") != (enc == "gzip") {
			t.Fatalf("Accept-Encoding %s answered with Content-Encoding %q", enc, got)
		}
		if enc == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		fams := parseExposition(t, string(body))
		for _, name := range []string{"camagent_build_info", "camagent_rtsp_video_frames_total", "camagent_cloud_session_state",
			"go_goroutines", "go_gc_duration_seconds", "go_memstats_heap_alloc_bytes", "go_info", "process_resident_memory_bytes", "process_open_fds"} {
			if len(fams[name].series) == 0 {
				t.Errorf("%s: no %s", enc, name)
			}
		}
		for name, f := range fams {
			if !strings.HasPrefix(name, "camagent_") {
				continue
			}
			if strings.HasSuffix(name, "_total") != (f.typ == "counter") {
				t.Errorf("%s is a %s: counters and only counters end in _total", name, f.typ)
			}
			if !regexp.MustCompile(`^[a-z][a-z0-9_]*$`).MatchString(name) || strings.Contains(name, "__") {
				t.Errorf("%s: not snake_case", name)
			}
			if nonBaseUnit.MatchString(name) {
				t.Errorf("%s: name it in base units (seconds, bytes, ratios)", name)
			}
			if !strings.HasSuffix(f.help, ".") {
				t.Errorf("%s: help %q is not a sentence", name, f.help)
			}
		}
	}
}

// parsedFamily is one family as parseExposition read it.
type parsedFamily struct {
	help, typ string
	series    []parsedSeries
}

type parsedSeries struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*`)
	// The units promlint turned away.
	nonBaseUnit = regexp.MustCompile(`_(milliseconds|microseconds|nanoseconds|minutes|hours|days|kilobytes|megabytes|gigabytes|bits|percent|celsius)(_|$)`)
)

// parseExposition parses the text format 0.0.4 strictly: every family is
// HELP, then TYPE, then its samples, once, in name order; every sample
// belongs to the family before it; label values are quoted with only \\, \"
// and \n escaped; no series twice; no blank or other lines.
func parseExposition(t *testing.T, text string) map[string]*parsedFamily {
	t.Helper()
	if !strings.HasSuffix(text, "\n") {
		t.Fatalf("exposition does not end in a newline")
	}
	fams := map[string]*parsedFamily{}
	var cur string
	seen := map[string]bool{}
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("line %d %q: %s", n+1, line, fmt.Sprintf(format, args...))
		}
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, ok := strings.Cut(rest, " ")
			if !ok || metricName.FindString(name) != name {
				fail("bad HELP")
			}
			if fams[name] != nil {
				fail("family %s twice", name)
			}
			if cur != "" && name <= cur {
				fail("family %s after %s: not in name order", name, cur)
			}
			if cur != "" && len(fams[cur].series) == 0 {
				fail("family %s has no samples", cur)
			}
			fams[name], cur = &parsedFamily{help: unescape(help, false, fail)}, name
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			if name != cur || fams[cur].typ != "" {
				fail("TYPE not right after its HELP")
			}
			switch typ {
			case "counter", "gauge", "summary", "histogram", "untyped":
			default:
				fail("unknown type %q", typ)
			}
			fams[cur].typ = typ
			continue
		}
		if cur == "" || fams[cur].typ == "" {
			fail("sample or other line before HELP and TYPE")
		}
		s := parsedSeries{labels: map[string]string{}}
		s.name = metricName.FindString(line)
		rest := line[len(s.name):]
		f := fams[cur]
		if s.name != cur && !(f.typ == "summary" && (s.name == cur+"_sum" || s.name == cur+"_count")) {
			fail("sample of %s in family %s", s.name, cur)
		}
		if strings.HasPrefix(rest, "{") {
			rest = rest[1:]
			for {
				name := labelName.FindString(rest)
				if name == "" || !strings.HasPrefix(rest[len(name):], `="`) {
					fail("bad label at %q", rest)
				}
				rest = rest[len(name)+2:]
				end := closingQuote(rest)
				if end < 0 {
					fail("unterminated label value")
				}
				if _, dup := s.labels[name]; dup {
					fail("label %s twice", name)
				}
				s.labels[name] = unescape(rest[:end], true, fail)
				rest = rest[end+1:]
				if strings.HasPrefix(rest, ",") {
					rest = rest[1:]
					continue
				}
				if !strings.HasPrefix(rest, "}") {
					fail("labels not closed")
				}
				rest = rest[1:]
				break
			}
		}
		v, ok := strings.CutPrefix(rest, " ")
		if !ok || strings.Contains(v, " ") {
			fail("want one space and a value (no timestamp)")
		}
		var err error
		if s.value, err = strconv.ParseFloat(v, 64); err != nil {
			fail("value: %v", err)
		}
		if math.IsInf(s.value, 0) && v != "+Inf" && v != "-Inf" {
			fail("infinity spelled %q", v)
		}
		key := line[:len(line)-len(v)]
		if seen[key] {
			fail("series twice")
		}
		seen[key] = true
		f.series = append(f.series, s)
	}
	if cur == "" || len(fams[cur].series) == 0 {
		t.Fatalf("exposition ends in a family without samples (or is empty)")
	}
	return fams
}

// closingQuote is the index of the first unescaped double quote.
func closingQuote(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// unescape undoes the format's escaping; in label values a raw quote or
// newline is an error, in HELP a raw newline cannot occur (it ends the line).
func unescape(s string, label bool, fail func(string, ...any)) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' && label {
			fail("raw quote in label value")
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i++; i == len(s) {
			fail("escape at the end")
		}
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case '"':
			if !label {
				fail(`\" in HELP`)
			}
			b.WriteByte('"')
		default:
			fail("unknown escape \\%c", s[i])
		}
	}
	return b.String()
}

// TestNegotiateGzip: gzip only when the client prefers it to identity.
func TestNegotiateGzip(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                           false,
		"gzip":                       true,
		"gzip, deflate, br, zstd":    true,
		"identity, gzip":             false, // tie: identity
		"gzip;q=0.5, identity":       false,
		"gzip;q=1.0, identity;q=0.5": true,
		"gzip;q=0":                   false,
		"*":                          false,
		"br":                         false,
	} {
		var h []string
		if accept != "" {
			h = []string{accept}
		}
		if got := negotiateGzip(h); got != want {
			t.Errorf("Accept-Encoding %q: gzip %t, want %t", accept, got, want)
		}
	}
}
