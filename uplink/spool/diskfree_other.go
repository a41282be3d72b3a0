//go:build !(linux || darwin || freebsd)

package spool

import "errors"

// diskFree is unknown here, so MinFree guards nothing.
func diskFree(string) (int64, error) {
	return 0, errors.New("free disk space unknown on this system")
}
