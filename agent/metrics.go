package agent

import (
	"net/http"
	"strings"
	"time"

	"github.com/camagent/camagent/agent/camera"
	"github.com/camagent/camagent/uplink"
)

// sessionStates are the cloud session states exported by
// camagent_cloud_session_state, one series each, so a dashboard can match
// on the state name instead of a magic number.
var sessionStates = []uplink.ConnState{
	uplink.StateDisconnected, uplink.StateWSOpen, uplink.StateRegistering,
	uplink.StateCamRegistering, uplink.StateReady,
}

// metricsCollector exports what the workers already record. It reads their
// facts at scrape time, so the media path pays nothing for metrics.
type metricsCollector struct {
	a *Agent

	info, uptime                             *metricDesc
	configOK, configLoaded                   *metricDesc
	rtspFrames, rtspAudio, rtspBytes         *metricDesc
	rtspReconnects, rtspDiscarded, frameAge  *metricDesc
	pubFrames, pubBytes, pubDrops, pubActive *metricDesc
	session, onvifUp                         *metricDesc
	readerDrops, cloudAttempts, cloudRegs    *metricDesc
	uploads, rtspPulling                     *metricDesc
	queueItems, queueBytes, queueOldest      *metricDesc
	queueSent, queueSentBytes, queueFailures *metricDesc
	queueDropped, prebufferBytes             *metricDesc
	authFailures                             *metricDesc
}

func newMetricsCollector(a *Agent) *metricsCollector {
	cam := []string{"camera"}
	stream := []string{"camera", "stream"}
	// Counters and only counters end in _total.
	d := func(name, help string, labels []string) *metricDesc {
		typ := "gauge"
		if strings.HasSuffix(name, "_total") {
			typ = "counter"
		}
		return newDesc("camagent_"+name, typ, help, labels...)
	}
	return &metricsCollector{
		a:      a,
		info:   d("build_info", "Always 1; the version label says which camagent runs.", []string{"version"}),
		uptime: d("uptime_seconds", "Seconds since the agent started.", nil),
		// Named as Prometheus names its own, so fleet alerts can match
		// both: a refused config otherwise shows only on the status page.
		configOK:     d("config_last_reload_successful", "0 while the newest config file is refused (the previous config keeps running), else 1.", nil),
		configLoaded: d("config_last_reload_success_timestamp_seconds", "Unix time the running config was applied (at start or by the last good reload).", nil),

		rtspFrames:     d("rtsp_video_frames_total", "Video access units received from the camera.", stream),
		rtspPulling:    d("rtsp_pulling", "1 while the stream is pulled from the camera (a reader needs it or pull.warm keeps it), else 0.", stream),
		rtspAudio:      d("rtsp_audio_frames_total", "Audio frames received from the camera.", stream),
		rtspBytes:      d("rtsp_received_bytes_total", "Media payload bytes received from the camera.", stream),
		rtspReconnects: d("rtsp_reconnects_total", "RTSP sessions opened after the first one for this stream.", stream),
		rtspDiscarded:  d("rtsp_discarded_frames_total", "Units dropped because their time went backwards across an RTSP reconnect.", stream),
		frameAge:       d("rtsp_last_frame_age_seconds", "Seconds since the last unit arrived from the camera; absent before the first.", stream),

		pubFrames: d("publish_frames_total", "Frames written to the cloud over RTMP by kind (video access units, audio frames), over every publish of this stream.", []string{"camera", "stream", "kind"}),
		pubBytes:  d("publish_bytes_total", "Media payload bytes written to the cloud over RTMP, over every publish of this stream.", stream),
		pubDrops:  d("publish_dropped_frames_total", "Frames a publish could not send (before the first key frame, unsupported codec), over every publish of this stream.", stream),
		pubActive: d("publishing", "1 while the cloud has asked for this stream (live, record, …), else 0.", stream),

		session: d("cloud_session_state", "1 for the camera's current cloud session state, 0 for the others; ready means registered.", []string{"camera", "state"}),
		onvifUp: d("onvif_connected", "1 when the camera answered over ONVIF, else 0; absent for cameras without ONVIF.", cam),

		readerDrops:   d("reader_dropped_frames_total", "Units lost because a consumer (an RTMP publish) fell behind and its bounded queue was full.", stream),
		cloudAttempts: d("cloud_connect_attempts_total", "Connections to the cloud's camera channel dialled.", cam),
		cloudRegs:     d("cloud_registrations_total", "Cloud connections that reached ready (camera registered).", cam),
		uploads:       d("uploads_total", "Finished uploads to the cloud by category (log, preview) and result (ok, failed).", []string{"camera", "category", "result"}),

		queueItems:     d("upload_queue_items", "Events, snapshots and clip chunks waiting on disk for the cloud.", cam),
		queueBytes:     d("upload_queue_bytes", "Bytes the waiting items take on disk.", cam),
		queueOldest:    d("upload_queue_oldest_age_seconds", "Age of the oldest waiting item (by when it happened); absent when none waits.", cam),
		queueSent:      d("upload_queue_delivered_total", "Queue items the cloud took (events sent, files uploaded).", cam),
		queueSentBytes: d("upload_queue_delivered_bytes_total", "Payload bytes of the items the cloud took.", cam),
		queueFailures:  d("upload_queue_failures_total", "Deliveries that failed and were tried again later.", cam),
		queueDropped:   d("upload_queue_dropped_total", "Items given up unsent, by reason (budget, age, refused, corrupt, full).", []string{"camera", "reason"}),
		prebufferBytes: d("prebuffer_bytes", "Video bytes held in the camera's pre-event buffer; absent while none is kept.", cam),

		authFailures: d("http_auth_failures_total", "Status server requests refused for their credentials: wrong (bad_credentials) or, after too many wrong ones from the address, unchecked (rate_limited).", []string{"reason"}),
	}
}

// collect adds the agent's and its cameras' metrics to a scrape.
func (c *metricsCollector) collect(e *exposition) {
	gauge := e.add
	counter := func(d *metricDesc, v uint64, labels ...string) { e.add(d, float64(v), labels...) }
	gauge(c.info, 1, c.a.opts.Version)
	if !c.a.started.IsZero() {
		gauge(c.uptime, time.Since(c.a.started).Seconds())
	}
	counter(c.authFailures, c.a.logins.failures.Load(), "bad_credentials")
	counter(c.authFailures, c.a.logins.limited.Load(), "rate_limited")
	conf := c.a.configStatus()
	gauge(c.configOK, boolValue(conf.Error == ""))
	gauge(c.configLoaded, float64(conf.LoadedAt.UnixNano())/1e9)
	now := time.Now()
	for _, w := range c.a.cameraWorkers() {
		name, m := w.Name(), w.Metrics()
		counter(c.cloudAttempts, m.Cloud.Attempts, name)
		counter(c.cloudRegs, m.Cloud.Registrations, name)
		for k, v := range m.Uploads {
			counter(c.uploads, v, name, k.Category, k.Result)
		}
		q := w.UploadQueue()
		gauge(c.queueItems, float64(q.Items), name)
		gauge(c.queueBytes, float64(q.Bytes), name)
		if !q.OldestCreated.IsZero() {
			gauge(c.queueOldest, now.Sub(q.OldestCreated).Seconds(), name)
		}
		counter(c.queueSent, uint64(q.Uploaded), name)
		counter(c.queueSentBytes, uint64(q.UploadedBytes), name)
		counter(c.queueFailures, uint64(q.Failures), name)
		for why, n := range q.Dropped {
			counter(c.queueDropped, uint64(n), name, why)
		}
		if b := w.EventBuffer(); b.Stream != "" {
			gauge(c.prebufferBytes, float64(b.Bytes), name)
		}
		for _, s := range sessionStates {
			gauge(c.session, boolValue(s == m.CloudState), name, s.String())
		}
		if m.ONVIF != camera.ONVIFNotConfigured {
			gauge(c.onvifUp, boolValue(m.ONVIF == camera.ONVIFConnected), name)
		}
		for _, sm := range m.Streams {
			st := sm.Pull
			gauge(c.rtspPulling, boolValue(sm.Pulling), name, sm.ID)
			counter(c.rtspFrames, st.VideoFrames, name, sm.ID)
			counter(c.rtspAudio, st.AudioUnits, name, sm.ID)
			counter(c.rtspBytes, st.Bytes, name, sm.ID)
			counter(c.rtspReconnects, max(st.Sessions, 1)-1, name, sm.ID)
			counter(c.rtspDiscarded, st.Discarded, name, sm.ID)
			counter(c.readerDrops, st.ReaderDrops, name, sm.ID)
			if !st.LastFrame.IsZero() {
				gauge(c.frameAge, now.Sub(st.LastFrame).Seconds(), name, sm.ID)
			}
			gauge(c.pubActive, boolValue(sm.Publishing), name, sm.ID)
			if ps := sm.Publish; ps != nil {
				counter(c.pubFrames, ps.VideoFrames, name, sm.ID, "video")
				counter(c.pubFrames, ps.AudioFrames, name, sm.ID, "audio")
				counter(c.pubBytes, ps.Bytes, name, sm.ID)
				counter(c.pubDrops, ps.Drops, name, sm.ID)
			}
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// metricsHandler serves /metrics: the agent's metrics plus the Go runtime's
// and the process's.
func (a *Agent) metricsHandler() http.Handler {
	c, rc := newMetricsCollector(a), newRuntimeCollector()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e exposition
		c.collect(&e)
		rc.collect(&e)
		serveExposition(w, r, &e)
	})
}
