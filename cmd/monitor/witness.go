package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/vigil-tlog/vigil/internal/state"
	"github.com/vigil-tlog/vigil/internal/witness"
)

// witnessCmd runs `monitor witness keygen`.
func witnessCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "keygen" {
		fmt.Fprint(stderr, "usage: monitor witness keygen --name NAME --out FILE [--url URL] [--force]\n")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return exitOK
		}
		return exitUsage
	}
	fl := flag.NewFlagSet("monitor witness keygen", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var (
		name  = fl.String("name", "", "the witness `name` (a host-like name, e.g. vigil.example.com/witness)")
		out   = fl.String("out", "", "write the signer key to this `file` (0600) and its verifier key to FILE.vkey")
		url   = fl.String("url", "http://127.0.0.1:31390", "the witness `URL` the log reaches (witness.listen), for the policy")
		force = fl.Bool("force", false, "replace an existing key file")
	)
	fl.Usage = func() {
		fmt.Fprint(stderr, `usage: monitor witness keygen --name NAME --out FILE [--url URL] [--force]

Creates the witness key of a monitor whose logs are configured witness: true.
The signer key goes to FILE (give it as witness.key_file); its cosignature/v1
verifier key to FILE.vkey (give it to peers, and to clients that check
cosignatures). Prints a witness policy for rekor-tiles --witness-policy-path
naming this witness at URL.

flags:
`)
		fl.PrintDefaults()
	}
	if err := fl.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *name == "" || *out == "" || fl.NArg() > 0 {
		fmt.Fprintln(stderr, "monitor witness keygen: --name and --out are required, and nothing else")
		return exitUsage
	}
	skey, vkey, err := witness.GenerateKey(*name)
	if err != nil {
		fmt.Fprintf(stderr, "monitor witness keygen: %v\n", err)
		return exitUsage
	}
	var opts []state.WriteOption
	if !*force {
		opts = append(opts, state.NoReplace)
	}
	if err := state.WriteFileAtomic(*out, []byte(skey+"\n"), 0o600, opts...); err != nil {
		if errors.Is(err, fs.ErrExist) {
			fmt.Fprintf(stderr, "monitor witness keygen: %s exists; keep it (its cosignatures are what logs and clients trust) or pass --force\n", *out)
			return exitUsage
		}
		fmt.Fprintf(stderr, "monitor witness keygen: %v\n", err)
		return exitUsage
	}
	if err := state.WriteFileAtomic(*out+".vkey", []byte(vkey+"\n"), 0o644); err != nil {
		fmt.Fprintf(stderr, "monitor witness keygen: %v\n", err)
		return exitUsage
	}
	fmt.Fprint(stdout, witness.Policy(*name, vkey, *url))
	if _, err := os.Stat(*out); err == nil {
		fmt.Fprintf(stderr, "wrote %s (signer key: witness.key_file) and %s.vkey (verifier key)\n", *out, *out)
	}
	return exitOK
}
