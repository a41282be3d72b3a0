package agent

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// WriteText prints the report for people: one section per step, the verdict
// last.
func (r ProbeReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "camera:    %s\n", r.URL)
	if d := r.Device; d != nil {
		fmt.Fprintf(&b, "device:    %s %s, firmware %s, serial %s\n", d.Manufacturer, d.Model, d.Firmware, d.Serial)
	}
	if r.AuthMode != "" && len(r.Auth) > 0 {
		fmt.Fprintf(&b, "auth:      %s\n", r.AuthMode)
	} else if len(r.Services) > 0 {
		fmt.Fprintf(&b, "auth:      none needed\n")
	}
	if c := r.Clock; c != nil && c.Unknown != "" {
		fmt.Fprintf(&b, "clock:     unknown (%s)\n", c.Unknown)
	} else if c != nil {
		sync := "manual"
		if c.NTP {
			sync = "NTP"
		}
		fmt.Fprintf(&b, "clock:     %s (%s), skew %+.1fs vs this host", c.CameraUTC.Format(time.RFC3339), sync, c.SkewSeconds)
		if !c.NTP && math.Abs(c.SkewSeconds) > largeSkew.Seconds() {
			b.WriteString("; the agent copes, but consider NTP on the camera")
		}
		b.WriteString("\n")
	}
	if len(r.Services) > 0 {
		b.WriteString("services:\n")
		for _, name := range serviceNames {
			if addr := r.Services[name]; addr != "" {
				fmt.Fprintf(&b, "  %-10s %s", name, addr)
				if why := r.ServiceProblems[name]; why != "" {
					fmt.Fprintf(&b, " (does not answer: %s; treated as absent)", why)
				}
				b.WriteString("\n")
			}
		}
	}
	for _, pr := range r.Profiles {
		// 0 is what a camera without RateControl leaves: unknown, not a rate.
		fmt.Fprintf(&b, "profile %s (%s): %s", pr.Name, pr.Token, orDash(pr.Encoding))
		if pr.Width > 0 {
			fmt.Fprintf(&b, " %dx%d", pr.Width, pr.Height)
		}
		if pr.FPS > 0 {
			fmt.Fprintf(&b, " %gfps", pr.FPS)
		} else {
			b.WriteString(" fps unknown")
		}
		if pr.BitrateKbps > 0 {
			fmt.Fprintf(&b, " %dkbps", pr.BitrateKbps)
		} else {
			b.WriteString(" kbps unknown")
		}
		if pr.Audio != "" {
			fmt.Fprintf(&b, ", audio %s", pr.Audio)
		}
		b.WriteString("\n")
		if pr.StreamURI != "" {
			fmt.Fprintf(&b, "  rtsp:    %s\n", pr.StreamURI)
		}
		for _, t := range pr.Tracks {
			fmt.Fprintf(&b, "  track:   %s %s", t.Kind, t.Codec)
			if t.Width > 0 {
				fmt.Fprintf(&b, " %dx%d", t.Width, t.Height)
			}
			if t.SampleRate > 0 {
				fmt.Fprintf(&b, " %d Hz %d ch", t.SampleRate, t.Channels)
			}
			if !t.Carried {
				b.WriteString(" (not forwarded)")
			}
			b.WriteString("\n")
		}
		if pr.Error != "" {
			fmt.Fprintf(&b, "  error:   %s\n", pr.Error)
		}
	}
	if s := r.Snapshot; s != nil {
		switch {
		case s.Error != "":
			fmt.Fprintf(&b, "snapshot:  %s\n", s.Error)
		case s.Format == "PNG":
			fmt.Fprintf(&b, "snapshot:  PNG %dx%d, %d bytes (%s); converted to JPEG for the cloud\n", s.Width, s.Height, s.Bytes, s.URI)
		default:
			fmt.Fprintf(&b, "snapshot:  %s %dx%d, %d bytes (%s)\n", s.Format, s.Width, s.Height, s.Bytes, s.URI)
		}
	}
	for _, f := range []struct {
		name  string
		f     *ProbeFeature
		items string // what the feature's items are
	}{{"ptz", r.PTZ, "presets"}, {"events", r.Events, "kinds"}, {"motion", r.Motion, "items"}} {
		if f.f == nil {
			continue
		}
		state := "no"
		if f.f.Supported {
			state = "yes"
		}
		fmt.Fprintf(&b, "%-10s %s", f.name+":", state)
		if f.f.Detail != "" {
			fmt.Fprintf(&b, ", %s", f.f.Detail)
		}
		if len(f.f.Items) > 0 {
			fmt.Fprintf(&b, "; %s: %s", f.items, strings.Join(f.f.Items, ", "))
		}
		if f.f.Error != "" {
			fmt.Fprintf(&b, " (error: %s)", f.f.Error)
		}
		b.WriteString("\n")
	}
	if len(r.Capabilities) > 0 {
		b.WriteString("capabilities:\n")
		for _, c := range r.Capabilities {
			fmt.Fprintf(&b, "  %-15s %s", c.Name, c.State)
			if c.Why != "" {
				fmt.Fprintf(&b, ": %s", c.Why)
			}
			b.WriteString("\n")
		}
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "error:     %s\n", e)
	}
	fmt.Fprintf(&b, "verdict:   %s\n", r.Verdict)
	_, err := io.WriteString(w, b.String())
	return err
}
