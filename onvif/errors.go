package onvif

import (
	"errors"
	"fmt"
	"strings"
)

// Errors callers branch on. Operation errors wrap one of these with %w.
var (
	// ErrUnauthorized means the camera refused the credentials.
	ErrUnauthorized = errors.New("onvif: unauthorized")
	// ErrUnreachable means the camera could not be reached in time.
	ErrUnreachable = errors.New("onvif: unreachable")
	// ErrUnsupported means the camera does not offer the action or service.
	ErrUnsupported = errors.New("onvif: unsupported")
	// ErrServiceBroken means the camera announced a service whose address
	// does not answer while its device service does. Errors matching it
	// match ErrUnsupported too: the service is as good as absent until the
	// next Connect.
	ErrServiceBroken = errors.New("onvif: camera announced a service that does not answer")
)

// errSecurityRefused is matched by a fault saying the camera does not
// understand the WS-Security header (see Fault.securityRefused).
var errSecurityRefused = errors.New("onvif: camera does not understand ws-security")

// Fault is a SOAP fault returned by the camera.
type Fault struct {
	// Code is the local name of the top-level fault code (Sender, Receiver,
	// MustUnderstand, or the SOAP 1.1 faultcode such as Client).
	Code string
	// Subcode is the local name of the most specific subcode, e.g.
	// NotAuthorized or ActionNotSupported; empty if none was given.
	Subcode string
	// Reason is the human-readable text.
	Reason string

	// subcodes holds every subcode level, outermost first, for Is.
	subcodes []string
	// notUnderstood holds the local names of the header blocks a
	// MustUnderstand fault's NotUnderstood elements name.
	notUnderstood []string
}

// Error implements error: the camera's own words first, the codes after
// them for a bug report.
func (f *Fault) Error() string {
	var b strings.Builder
	b.WriteString("the camera answered with an error")
	if f.Reason != "" {
		b.WriteString(": ")
		b.WriteString(f.Reason)
	}
	b.WriteString(" (soap fault ")
	b.WriteString(f.Code)
	for _, s := range f.subcodes {
		b.WriteString("/")
		b.WriteString(s)
	}
	b.WriteString(")")
	return b.String()
}

// Is maps well-known ONVIF subcodes to the package's sentinel errors.
func (f *Fault) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return f.unauthorized()
	case errSecurityRefused:
		return f.securityRefused()
	case ErrUnsupported:
		for _, s := range f.codes() {
			if s == "ActionNotSupported" || s == "NoSuchService" || s == "NotSupported" {
				return true
			}
		}
	}
	return false
}

func (f *Fault) unauthorized() bool {
	for _, s := range f.codes() {
		if s == "NotAuthorized" || s == "FailedAuthentication" || s == "InvalidSecurityToken" || s == "FailedCheck" {
			return true
		}
	}
	// A few cameras send a bare Sender fault whose only sign is the text.
	return len(f.subcodes) == 0 && authFailureText(f.Reason)
}

// securityRefused says whether the fault is a SOAP MustUnderstand fault
// about the WS-Security header: the camera takes HTTP digest only. A
// MustUnderstand fault naming other headers only (WS-Addressing) is not.
func (f *Fault) securityRefused() bool {
	must := false
	for _, s := range f.codes() {
		must = must || s == "MustUnderstand"
	}
	if !must && len(f.notUnderstood) == 0 {
		return false
	}
	if len(f.notUnderstood) == 0 {
		return true // most cameras name no header; ours only sends Security
	}
	for _, h := range f.notUnderstood {
		if h == "Security" {
			return true
		}
	}
	return false
}

func (f *Fault) codes() []string {
	return append([]string{f.Code}, f.subcodes...)
}

// HTTPError is an error response that carried no SOAP fault, typically an
// HTML error page.
type HTTPError struct {
	// Status is the HTTP status code.
	Status int
	// Text is the page's text without markup, shortened; may be "".
	Text string
}

// Error implements error.
func (e *HTTPError) Error() string {
	if e.Text == "" {
		return fmt.Sprintf("the camera answered with an error (http %d)", e.Status)
	}
	return fmt.Sprintf("the camera answered with an error: %s (http %d)", e.Text, e.Status)
}

// Is maps a 404 to ErrUnsupported and a page that says the credentials
// were refused to ErrUnauthorized.
func (e *HTTPError) Is(target error) bool {
	switch target {
	case ErrUnsupported:
		return e.Status == 404
	case ErrUnauthorized:
		return e.Status != 404 && authFailureText(e.Text)
	}
	return false
}

// authFailurePhrases are what cameras write when they refuse credentials
// without saying so in a SOAP subcode or an HTTP 401.
var authFailurePhrases = []string{
	"authentication failed", "authentication error", "authorization failed",
	"unauthorized", "unauthorised", "not authorized",
	"invalid username or password", "invalid user name or password",
	"wrong username or password", "wrong password", "invalid password",
	"login failed",
}

// authFailureText is the one place error text is matched: some cameras
// refuse wrong credentials with a plain fault or an HTML page whose words
// are the only sign (no NotAuthorized subcode, no 401). Matching them
// turns "the camera answered with an error" into ErrUnauthorized, which
// stops the agent hammering the camera with a wrong password.
func authFailureText(s string) bool {
	if s == "" {
		return false
	}
	s = strings.ToLower(s)
	for _, p := range authFailurePhrases {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// pageText returns the text of an HTML or plain error page: markup
// dropped, white space collapsed, at most 200 bytes.
func pageText(data []byte) string {
	const max = 200
	var b strings.Builder
	inTag, space := false, false
	for _, c := range data {
		if b.Len()+2 > max {
			break
		}
		switch {
		case c == '<':
			inTag, space = true, true
		case c == '>':
			inTag = false
		case inTag:
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			space = true
		case c < 0x20:
		default:
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteByte(c)
		}
	}
	return strings.ToValidUTF8(b.String(), "")
}
