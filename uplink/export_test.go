package uplink

import (
	"maps"
	"slices"
)

// KnownRequests lists the commands that decode to a Request type, so the
// external tests can check they cover every one.
func KnownRequests() []string { return slices.Sorted(maps.Keys(newRequest)) }
