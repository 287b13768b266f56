package stack

// Internals for the tests against the real stack (package stack_test, which
// imports testenv and so cannot be package stack).
var (
	Get      = get
	PostJSON = postJSON
	AddV2    = addV2
	Client   = client
)
