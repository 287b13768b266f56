package state_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/vigil-tlog/vigil/internal/state"
)

func ExampleStore_Update() {
	dir, err := os.MkdirTemp("", "vigil-state-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	s, err := state.Open(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	// A second monitor on the same directory is refused.
	_, err = state.Open(dir)
	fmt.Println("second monitor locked out:", errors.Is(err, state.ErrLocked))

	// The first check trusts what it verified; later checks see it.
	for _, size := range []int{10, 12} {
		err := s.Update("rekor", func(prev *state.State) (*state.State, error) {
			if prev == nil {
				fmt.Println("no state yet: trust on first use")
			} else {
				fmt.Printf("last verified: %q\n", prev.Checkpoint)
			}
			return &state.State{Checkpoint: fmt.Appendf(nil, "size %d", size)}, nil
		})
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	st, err := s.Load("rekor")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: %q\n", st.Log, st.Checkpoint)
	// Output:
	// second monitor locked out: true
	// no state yet: trust on first use
	// last verified: "size 10"
	// rekor: "size 12"
}
