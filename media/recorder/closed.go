package recorder

// Closed reports whether the segment is complete: the recorder writes no
// more to it, so a copy of it (Extract) stays what it is.
func (s Segment) Closed() bool { return !s.open }
