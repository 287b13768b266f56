package index

// SetPlanLimits sets the query planner's thresholds (see search.go) so
// that small test indexes take every path, and returns a func restoring
// them. Tests that call it must not run in parallel.
func SetPlanLimits(merge, sort, scan int) (restore func()) {
	m, s, c := mergeMax, sortMax, maxScan
	mergeMax, sortMax, maxScan = merge, sort, scan
	return func() { mergeMax, sortMax, maxScan = m, s, c }
}
