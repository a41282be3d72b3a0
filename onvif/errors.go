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
)

// Fault is a SOAP fault returned by the camera.
type Fault struct {
	// Code is the local name of the top-level fault code (Sender, Receiver,
	// or the SOAP 1.1 faultcode such as Client).
	Code string
	// Subcode is the local name of the most specific subcode, e.g.
	// NotAuthorized or ActionNotSupported; empty if none was given.
	Subcode string
	// Reason is the human-readable text.
	Reason string

	// subcodes holds every subcode level, outermost first, for Is.
	subcodes []string
}

// Error implements error.
func (f *Fault) Error() string {
	var b strings.Builder
	b.WriteString("soap fault ")
	b.WriteString(f.Code)
	for _, s := range f.subcodes {
		b.WriteString("/")
		b.WriteString(s)
	}
	if f.Reason != "" {
		fmt.Fprintf(&b, ": %q", f.Reason)
	}
	return b.String()
}

// Is maps well-known ONVIF subcodes to the package's sentinel errors.
func (f *Fault) Is(target error) bool {
	for _, s := range f.codes() {
		switch target {
		case ErrUnauthorized:
			if s == "NotAuthorized" || s == "FailedAuthentication" || s == "InvalidSecurityToken" || s == "FailedCheck" {
				return true
			}
		case ErrUnsupported:
			if s == "ActionNotSupported" || s == "NoSuchService" || s == "NotSupported" {
				return true
			}
		}
	}
	return false
}

func (f *Fault) codes() []string {
	return append([]string{f.Code}, f.subcodes...)
}
