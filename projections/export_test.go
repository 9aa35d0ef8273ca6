package projections

// SetFlushEvery makes h write its records in batches of n, so that tests
// reach the background writes with few events.
func SetFlushEvery(h *History, n int) { h.flushEvery = n }
