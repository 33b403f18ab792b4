package order

// SetCrash makes s's saga runners stop as if their process died: before
// a step's work (done false) or after it but before its outcome is
// stored (done true), whenever crash says so.
func SetCrash(s *Server, crash func(step string, done bool) bool) { s.crash = crash }
