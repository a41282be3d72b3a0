package onvif

import (
	"context"
	"errors"
)

// optionsErr filters the error of an auxiliary options read (imaging or
// video source options): a camera refusing it in any way (ActionNotSupported,
// another fault, a bare HTTP error page) leaves the options unknown and the
// settings still usable. Only authentication, reachability and
// cancellation are passed on.
func optionsErr(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrUnreachable) || ctx.Err() != nil {
		return err
	}
	return nil
}
