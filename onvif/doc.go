// Package onvif is camagent's small ONVIF client: device information, media
// profiles, encoder settings and stream/snapshot URIs, behind our own types.
//
// It builds on github.com/use-go/onvif for request types but does its own SOAP
// transport to fix that library's faults: service addresses are kept as the
// camera advertises them (falling back to the configured host only when the
// advertised one differs), WS-UsernameToken timestamps are computed in the
// camera's clock, HTTP digest authentication is supported, and every call has
// a context and a timeout. Responses are decoded by local element names, so
// vendors' differing namespace prefixes do not matter.
package onvif
