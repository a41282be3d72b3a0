package onvif

import (
	"context"
	"errors"
	"fmt"
	"net"

	"go.uber.org/zap"
)

// learnServices asks GetServices first and lets GetCapabilities fill what
// it left out: older firmware lacks GetServices or refuses it in odd ways
// (a fault, a bare HTTP error page, a body that does not parse), and some
// firmware lists fewer services there than in GetCapabilities (PTZ or
// Media ver10 only in the latter).
func (c *Client) learnServices(ctx context.Context) (Services, error) {
	svc, err := c.getServices(ctx)
	if err != nil && (errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrUnreachable) || ctx.Err() != nil) {
		return Services{}, err
	}
	if err == nil && !svc.gaps() {
		return svc, nil
	}
	caps, cerr := c.getCapabilities(ctx)
	switch {
	case cerr == nil:
		if err != nil {
			c.log.Debug("getservices refused, using getcapabilities", zap.Error(err))
		}
		return svc.fill(caps), nil
	case err != nil || ctx.Err() != nil:
		return Services{}, cerr
	}
	c.log.Debug("getcapabilities refused, using getservices alone", zap.Error(cerr))
	return svc, nil
}

// gaps says whether s lacks a service GetCapabilities could name.
func (s Services) gaps() bool {
	return s.Device == "" || s.Media == "" || s.PTZ == "" || s.Events == "" || s.Imaging == "" || s.Analytics == ""
}

// fill returns s with its empty addresses taken from o.
func (s Services) fill(o Services) Services {
	for _, p := range []struct {
		dst *string
		src string
	}{
		{&s.Device, o.Device}, {&s.Media, o.Media}, {&s.Media2, o.Media2}, {&s.PTZ, o.PTZ},
		{&s.Events, o.Events}, {&s.Imaging, o.Imaging}, {&s.Analytics, o.Analytics},
	} {
		if *p.dst == "" {
			*p.dst = p.src
		}
	}
	return s
}

// named lists the services by the names ServiceProblems uses.
func (s Services) named() []struct{ name, addr string } {
	return []struct{ name, addr string }{
		{"device", s.Device}, {"media", s.Media}, {"media2", s.Media2}, {"ptz", s.PTZ},
		{"events", s.Events}, {"imaging", s.Imaging}, {"analytics", s.Analytics},
	}
}

// ServiceProblems returns the services the camera announced that do not
// answer, by name (device, media, media2, ptz, events, imaging,
// analytics), with why. Their calls fail with ErrServiceBroken until the
// next Connect; empty when all answer (or were not called yet).
func (c *Client) ServiceProblems() map[string]error {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]error{}
	for _, s := range c.services.named() {
		if err := c.broken[s.addr]; s.addr != "" && err != nil {
			out[s.name] = err
		}
	}
	return out
}

// unreachableError is a transport failure: no answer from the camera.
type unreachableError struct{ err error }

func (e *unreachableError) Error() string        { return "onvif: unreachable: " + e.err.Error() }
func (e *unreachableError) Is(target error) bool { return target == ErrUnreachable }
func (e *unreachableError) Unwrap() error        { return e.err }

// serviceBrokenError is a call to a service whose address does not answer
// although the device service does.
type serviceBrokenError struct {
	addr string
	err  error // the transport failure, not ErrUnreachable: the camera is there
}

func (e *serviceBrokenError) Error() string {
	return fmt.Sprintf("the camera announced a service at %s that does not answer: %v", e.addr, e.err)
}

func (e *serviceBrokenError) Is(target error) bool {
	return target == ErrServiceBroken || target == ErrUnsupported
}

func (e *serviceBrokenError) Unwrap() error { return e.err }

// noteAlive records that a service address answered, so that a later
// failure there is taken for a hiccup (a long pull cut short), not a
// service that never worked.
func (c *Client) noteAlive(endpoint string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.alive[endpoint] {
		return
	}
	for _, s := range c.services.named() {
		if s.addr == endpoint {
			if c.alive == nil {
				c.alive = map[string]bool{}
			}
			c.alive[endpoint] = true
			return
		}
	}
}

// checkService returns err, or a serviceBrokenError when err is a transport
// failure at one of the camera's service addresses (not the device
// service) that has not answered since Connect, while the device service
// still answers: firmware that
// announces a service at an address where nothing listens or that closes
// the connection. The address is then remembered as broken.
func (c *Client) checkService(ctx context.Context, endpoint string, err error) error {
	var ue *unreachableError
	var ne net.Error
	if !errors.As(err, &ue) || ctx.Err() != nil || (errors.As(ue.err, &ne) && ne.Timeout()) {
		// A slow answer may be load: only a refused or closed
		// connection condemns the service.
		return err
	}
	c.mu.Lock()
	service := ""
	for _, s := range c.services.named() {
		if s.addr == endpoint && endpoint != c.services.Device && endpoint != c.url.String() && !c.alive[endpoint] {
			service = s.name
		}
	}
	c.mu.Unlock()
	if service == "" {
		return err
	}
	if _, derr := c.systemDateAndTime(ctx, false); derr != nil && !answered(derr) {
		return err // the camera itself does not answer
	}
	broken := &serviceBrokenError{addr: endpoint, err: ue.err}
	c.mu.Lock()
	if c.broken == nil {
		c.broken = map[string]error{}
	}
	c.broken[endpoint] = broken
	c.mu.Unlock()
	c.log.Warn("camera service does not answer, treating it as absent",
		zap.String("service", service), zap.String("address", endpoint), zap.Error(ue.err))
	return broken
}
