package onvifsim

import (
	"encoding/xml"
	"net/http"
	"strings"
)

// DeadPath is where Options.DeadServiceAddr announces its service: every
// connection to it is closed without an answer.
const DeadPath = "/onvif/dead_service"

// nsWSSE is the WS-Security header namespace.
const nsWSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"

// handleDead closes the connection unanswered; Count(DeadPath) counts the
// attempts.
func (s *Server) handleDead(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	s.counts[DeadPath]++
	s.mu.Unlock()
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // closes the connection too
}

// deadAddrs moves the address of Options.DeadServiceAddr to DeadPath in a
// GetServices or GetCapabilities answer.
func (s *Server) deadAddrs(base, resp string) string {
	var path string
	switch s.opts.DeadServiceAddr {
	case "imaging":
		path = ImagingPath
	case "ptz":
		path = PTZPath
	default:
		return resp
	}
	return strings.ReplaceAll(resp, ">"+base+path+"<", ">"+base+DeadPath+"<")
}

// refuseAuthQuirk answers the requests NoWSSecurity and WSSecurityOnly
// refuse, and reports whether it did.
func (s *Server) refuseAuthQuirk(w http.ResponseWriter, req *request, data []byte) bool {
	switch {
	case s.opts.WSSecurityOnly && s.opts.Username != "" && req.Header.Token == nil:
		w.Header().Set("Content-Type", "text/plain")
		http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
		return true
	case s.opts.NoWSSecurity && hasSecurityHeader(data):
		writeMustUnderstand(w)
		return true
	}
	return false
}

func hasSecurityHeader(data []byte) bool {
	var env struct {
		Header struct {
			Security *struct{} `xml:"Security"`
		} `xml:"Header"`
	}
	return xml.Unmarshal(data, &env) == nil && env.Header.Security != nil
}

// writeMustUnderstand answers a header block the camera does not know
// (SOAP 1.2 part 1, 5.4.8).
func writeMustUnderstand(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` +
		`<env:Envelope xmlns:env="` + nsSOAP + `" xmlns:wsse="` + nsWSSE + `">` +
		`<env:Header><env:NotUnderstood qname="wsse:Security"/></env:Header>` +
		`<env:Body><env:Fault><env:Code><env:Value>env:MustUnderstand</env:Value></env:Code>` +
		`<env:Reason><env:Text xml:lang="en">One or more mandatory SOAP header blocks not understood</env:Text></env:Reason>` +
		`</env:Fault></env:Body></env:Envelope>`))
}

// writeNotAuthorized refuses wrong credentials, the standard way or as
// Options.AuthFailedPlainFault or AuthFailedHTML say.
func (s *Server) writeNotAuthorized(w http.ResponseWriter, reason string) {
	switch {
	case s.opts.AuthFailedHTML != 0:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(s.opts.AuthFailedHTML)
		_, _ = w.Write([]byte(`<!DOCTYPE html><html><head><title>Error</title></head>` +
			`<body><h1>Error</h1><p>Invalid username or password</p></body></html>`))
	case s.opts.AuthFailedPlainFault != "":
		writeFault(w, http.StatusBadRequest, "Sender", nil, s.opts.AuthFailedPlainFault)
	default:
		writeFault(w, http.StatusBadRequest, "Sender", []string{"ter:NotAuthorized"}, "Sender not Authorized: "+reason)
	}
}
