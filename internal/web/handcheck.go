package web

// How to check evidence by hand, without trusting Vigil: the steps of
// README.md's "Checking an alert's evidence by hand" and docs/runbooks.md's
// "Reading and checking the evidence by hand", filled in with what the
// alert or entry holds.
//
// Commands never embed text from the evidence (a checkpoint or body is
// whatever the log served, and a pasted heredoc could end early and run
// the rest): they read it from the saved event.json with jq, or from a
// file the reader saves with a copy button. Only numbers, hex that was
// checked to be hex, and the configured log URL, shell-quoted, are put
// into commands.

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/transparency-dev/tessera/api/layout"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/search"
)

// step is one step of a check by hand.
type step struct {
	Title string
	// Text is prose, as plain text.
	Text string
	// Cmd is shell commands to run, or "".
	Cmd string
	// Program is a Go program to save and run, or "", named ProgramName.
	Program     string
	ProgramName string
}

// noteHead is the first three lines of a checkpoint.
type noteHead struct {
	OK      bool
	Origin  string
	Size    uint64
	RootB64 string
	RootHex string
}

// parseNoteHead reads origin, tree size and root hash from a checkpoint;
// OK is false when they are not there in the checkpoint form.
func parseNoteHead(s string) noteHead {
	lines := strings.SplitN(s, "\n", 4)
	if len(lines) < 4 {
		return noteHead{}
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return noteHead{}
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return noteHead{}
	}
	return noteHead{OK: true, Origin: lines[0], Size: size, RootB64: lines[2], RootHex: hex.EncodeToString(root)}
}

const checkNoteFunc = `check_note() {  # usage: check_note new.note log.pub
  sed '/^$/q' "$1" | sed '$d' > body.txt                    # text lines, each with its newline
  grep '^— ' "$1" | head -1 | awk '{print $3}' | base64 -d | tail -c +5 > sig.der
  openssl dgst -sha256 -verify "$2" -signature sig.der body.txt
}`

// consistencyProgram is docs/runbooks.md's, step 3.
const consistencyProgram = `// go run consistency.go oldSize newSize oldRootB64 newRootB64 < proof.txt
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

func main() {
	oldSize, _ := strconv.ParseUint(os.Args[1], 10, 64)
	newSize, _ := strconv.ParseUint(os.Args[2], 10, 64)
	oldRoot, _ := base64.StdEncoding.DecodeString(os.Args[3])
	newRoot, _ := base64.StdEncoding.DecodeString(os.Args[4])
	var hashes [][]byte
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		h, err := hex.DecodeString(sc.Text())
		if err != nil {
			panic(err)
		}
		hashes = append(hashes, h)
	}
	err := proof.VerifyConsistency(rfc6962.DefaultHasher, oldSize, newSize, hashes, oldRoot, newRoot)
	fmt.Println("consistency:", err) // <nil> means consistent
}
`

// inclusionProgram checks an RFC 6962 inclusion proof.
const inclusionProgram = `// go run inclusion.go leafIndex treeSize leafHashHex rootHashHex < proof.txt
package main

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

func main() {
	index, _ := strconv.ParseUint(os.Args[1], 10, 64)
	size, _ := strconv.ParseUint(os.Args[2], 10, 64)
	leaf, _ := hex.DecodeString(os.Args[3])
	root, _ := hex.DecodeString(os.Args[4])
	var hashes [][]byte
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		h, err := hex.DecodeString(sc.Text())
		if err != nil {
			panic(err)
		}
		hashes = append(hashes, h)
	}
	err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leaf, hashes, root)
	fmt.Println("inclusion:", err) // <nil> means included
}
`

const goProgramNote = "Run it in a directory with a go.mod (go mod init check && go get github.com/transparency-dev/merkle@v0.0.2)."

// logBase is lg's URL without a trailing slash, or the shell variable
// $LOG_URL when the log is unknown.
func logBase(lg *Log) string {
	if lg == nil {
		return ""
	}
	return strings.TrimSuffix(lg.URL, "/")
}

// fetchEntry returns the commands that fetch entry idx from lg and leave
// its leaf data (what Vigil calls the body) in log-body.bin; ok is false
// when they do not (static-ct, whose tiles need decoding, or an unknown
// log), with note saying what to do instead.
func fetchEntry(lg *Log, idx uint64) (cmd, note string, ok bool) {
	if lg == nil || lg.URL == "" {
		return "", "Vigil does not watch this log now, so it cannot say where to fetch the entry from.", false
	}
	base, n := logBase(lg), u64(idx)
	switch lg.Kind {
	case "rekor-v1":
		return "curl -s " + shellQuote(base+"/api/v1/log/entries?logIndex="+n) + " > log-entry.json\n" +
				"jq -r '.[].body' log-entry.json | base64 -d > log-body.bin",
			"log-entry.json also holds the log's own inclusion proof and signed entry timestamp (.[].verification).", true
	case "rekor-v2":
		path, note := bundlePath(idx, lg.Size, "tile/entries/")
		k := u64(idx % layout.EntryBundleWidth)
		return "curl -s -o bundle.bin " + shellQuote(base+"/"+path) + "\n" +
			"# entry " + n + " is entry " + k + " of the bundle: each entry is a 2-byte big-endian length and its bytes\n" +
			"off=0\n" +
			"for i in $(seq 0 " + k + "); do\n" +
			"  len=$(tail -c +$((off+1)) bundle.bin | head -c 2 | od -An -tu1 | awk '{print $1*256+$2}')\n" +
			"  [ \"$i\" -eq " + k + " ] && tail -c +$((off+3)) bundle.bin | head -c \"$len\" > log-body.bin\n" +
			"  off=$((off+2+len))\n" +
			"done", note, true
	case "ct":
		return "curl -s " + shellQuote(base+"/ct/v1/get-entries?start="+n+"&end="+n) +
			" | jq -r '.entries[0].leaf_input' | base64 -d > log-body.bin", "", true
	case "static-ct":
		path, note := bundlePath(idx, lg.Size, "tile/data/")
		k := u64(idx % layout.EntryBundleWidth)
		return "curl -s -o data.bin " + shellQuote(base+"/"+path),
			strings.TrimSpace("Entry " + n + " is TileLeaf " + k + " of the data tile (C2SP static-ct-api): its TimestampedEntry, followed by the " +
				"precertificate and the chain's fingerprints. The entry's MerkleTreeLeaf, the body Vigil shows, is the two bytes 0x00 0x00 " +
				"followed by that TimestampedEntry, and the leaf hash is SHA-256(0x00 || MerkleTreeLeaf). " + note), false
	}
	return "", "Vigil does not know how to fetch entries of log kind " + strconv.Quote(lg.Kind) + ".", false
}

// bundlePath is the tile path (prefix tile/entries/ or tile/data/) of the
// bundle holding entry idx of a tree of size, the last verified one.
func bundlePath(idx, size uint64, prefix string) (path, note string) {
	n := idx / layout.EntryBundleWidth
	var p uint8
	if size > idx {
		p = layout.PartialTileSize(0, n, size)
	}
	path = prefix + layout.NWithSuffix(0, n, p)
	if p > 0 {
		note = fmt.Sprintf("The bundle holds %d entries at tree size %d, the last Vigil verified; if the log has grown past it, drop the .p/%d suffix.", p, size, p)
	}
	return path, note
}

// signatureStep is how to check the signatures of the checkpoints in
// files (old.note, new.note) of a log of kind.
func signatureStep(kind string, files []string) step {
	s := step{Title: "Check the signatures"}
	switch kind {
	case "rekor-v1":
		s.Text = "Rekor v1 signs checkpoints with ECDSA P-256 over SHA-256. With the log's public key (PEM) in log.pub, each note must verify; " +
			"a note that does not is not the log's statement. The first 4 bytes of the signature are the key hint, " +
			"the start of SHA-256 of the log's DER public key (the alert's key_id)."
		var b strings.Builder
		b.WriteString(checkNoteFunc)
		for _, f := range files {
			b.WriteString("\ncheck_note " + f + " log.pub")
		}
		s.Cmd = b.String()
	case "ct", "static-ct":
		s.Text = "A CT log's checkpoint carries an RFC 6962 tree head signature (over the TLS-encoded tree head with its timestamp, " +
			"not over the note text): verify it with the log's key using the checkpoint package of this repository " +
			"(transparency-dev/formats' RFC6962 note verifier), or compare with the log's signed tree head."
	default:
		s.Text = "Verify each note with the log's verifier key using golang.org/x/mod/sumdb/note (note.NewVerifier, then note.Open), " +
			"or the checkpoint package of this repository. A note that does not verify is not the log's statement."
	}
	return s
}

// alertSteps are the steps that check e by hand; lg is its log, nil when
// unknown.
func alertSteps(e alert.Event, lg *Log) []step {
	ev := e.Evidence
	kind := ""
	if lg != nil {
		kind = lg.Kind
	}
	steps := []step{{
		Title: "Save the event",
		Text: "Save the event JSON above as event.json (its copy button, or the download link). " +
			"The commands below read the evidence from it with jq, so that nothing the log served is pasted into a shell.",
	}}
	var files []string
	var cmd strings.Builder
	if ev.OldCheckpoint != "" {
		files = append(files, "old.note")
		cmd.WriteString("jq -j .evidence.old_checkpoint event.json > old.note\n")
	}
	if ev.NewCheckpoint != "" {
		files = append(files, "new.note")
		cmd.WriteString("jq -j .evidence.new_checkpoint event.json > new.note\n")
	}
	if len(files) > 0 {
		cmd.WriteString("head -n 3 " + strings.Join(files, " ") + "   # origin, tree size, root hash (base64)")
		steps = append(steps,
			step{Title: "Extract the checkpoints", Text: checkpointReading(ev), Cmd: cmd.String()},
			signatureStep(kind, files))
		if s, ok := compareStep(e); ok {
			steps = append(steps, s)
		}
		if ev.Entry == nil {
			if s, ok := consistencyStep(ev); ok {
				steps = append(steps, s)
			}
		}
	}
	if e.Kind == alert.KindStaleLog && lg != nil {
		steps = append(steps, currentCheckpointStep(lg))
	}
	if en := ev.Entry; en != nil && en.Index >= 0 {
		steps = append(steps, alertEntrySteps(e, lg)...)
	}
	return steps
}

// checkpointReading is what Vigil reads in the event's checkpoints.
func checkpointReading(ev alert.Evidence) string {
	var parts []string
	for _, c := range []struct{ name, note string }{{"old", ev.OldCheckpoint}, {"new", ev.NewCheckpoint}} {
		if c.note == "" {
			continue
		}
		h := parseNoteHead(c.note)
		if !h.OK {
			parts = append(parts, "the "+c.name+" checkpoint does not have the checkpoint form (origin, tree size, base64 root hash)")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: origin %q, tree size %d, root hash %s", c.name, h.Origin, h.Size, h.RootB64))
	}
	return "Vigil reads " + strings.Join(parts, "; ") + "."
}

// compareStep explains, by reason, what the two checkpoints show.
func compareStep(e alert.Event) (step, bool) {
	s := step{Title: "Compare the checkpoints"}
	switch e.Reason {
	case "fork":
		s.Text = "Both notes verify and have the same tree size with different root hashes: the log signed two different trees of the same size. " +
			"That proves a split view on its own; no further proof is needed. Keep both notes."
	case "rollback":
		s.Text = "Both notes verify and the new tree size is smaller than the old one: the log signed a shorter tree after a longer one. " +
			"That is proof on its own. Keep both notes."
	case "signature":
		s.Text = "The new note does not verify under the log's key (check_note fails for it): a log that verified before now serves checkpoints " +
			"its trusted keys did not sign. Look for an unannounced key rotation (the trust material), a proxy in the way, or a fake log."
	case "origin":
		s.Text = "The new note's first line, its origin, is not the log's configured origin."
	case "malformed":
		s.Text = "The new checkpoint could not be parsed; look at new.note as text (cat -A new.note shows stray bytes)."
	case "consistency":
		s.Text = "The new tree is larger, so it must contain the old one: the consistency proof between them must verify. If it does not, the log rewrote history."
	default:
		return step{}, false
	}
	return s, true
}

// consistencyStep checks the event's consistency proof; ok is false when
// the event has none or its checkpoints do not parse.
func consistencyStep(ev alert.Evidence) (step, bool) {
	old, nw := parseNoteHead(ev.OldCheckpoint), parseNoteHead(ev.NewCheckpoint)
	if len(ev.Proof) == 0 || !old.OK || !nw.OK || !allHex(ev.Proof) {
		return step{}, false
	}
	return step{
		Title: "Check the consistency proof",
		Text:  "The proof hashes are hex, in the order the log served them. " + goProgramNote,
		Cmd: "jq -r '.evidence.proof[]' event.json > proof.txt\n" +
			fmt.Sprintf("go run consistency.go %d %d %s %s < proof.txt", old.Size, nw.Size, old.RootB64, nw.RootB64),
		Program: consistencyProgram, ProgramName: "consistency.go",
	}, true
}

// currentCheckpointStep fetches lg's current checkpoint, for a stale log.
func currentCheckpointStep(lg *Log) step {
	s := step{Title: "Ask the log for its current checkpoint",
		Text: "The old checkpoint is the last one Vigil verified. See whether the log answers now, and whether its tree moved since."}
	base := logBase(lg)
	switch lg.Kind {
	case "rekor-v1":
		s.Cmd = "curl -s " + shellQuote(base+"/api/v1/log") + " | jq -r .signedTreeHead"
	case "ct":
		s.Cmd = "curl -s " + shellQuote(base+"/ct/v1/get-sth")
	default:
		s.Cmd = "curl -s " + shellQuote(base+"/checkpoint")
	}
	return s
}

// alertEntrySteps are the steps for the entry of an entry event or an
// inclusion failure.
func alertEntrySteps(e alert.Event, lg *Log) []step {
	en := e.Evidence.Entry
	idx := uint64(en.Index)
	var steps []step
	leaf := ""
	if isHex(en.LeafHash) {
		leaf = strings.ToLower(en.LeafHash)
	}
	if len(en.Body) > 0 {
		s := step{Title: "Hash the entry body",
			Text: "The leaf hash is SHA-256(0x00 || body), over the body as the log served it (RFC 6962)."}
		s.Cmd = "jq -r .evidence.entry.body event.json | base64 -d > body.bin\n" +
			"printf '\\0' | cat - body.bin | sha256sum"
		if leaf != "" {
			s.Cmd += "   # must print " + leaf
		}
		if en.BodySize > 0 {
			s.Text += fmt.Sprintf(" This event holds only the first %d of the body's %d bytes, so the hash will not match: "+
				"fetch the whole body from the log (next step) and hash that.", len(en.Body), en.BodySize)
		}
		steps = append(steps, s)
	}
	cmd, note, ok := fetchEntry(lg, idx)
	fetch := step{Title: "Fetch the entry from the log", Text: note, Cmd: cmd}
	if ok {
		fetch.Cmd += "\nprintf '\\0' | cat - log-body.bin | sha256sum"
		if leaf != "" {
			fetch.Cmd += "   # must print " + leaf
		}
		if len(en.Body) > 0 && en.BodySize == 0 {
			fetch.Cmd += "\ncmp body.bin log-body.bin && echo 'the log serves the same body'"
		}
	}
	steps = append(steps, fetch)
	if lg != nil && lg.Kind == "rekor-v1" && (e.Kind == alert.KindUnexpectedIdentity || e.Kind == alert.KindIdentityMatch) {
		f := "body.bin"
		if ok && (len(en.Body) == 0 || en.BodySize > 0) {
			f = "log-body.bin"
		}
		steps = append(steps, step{Title: "Look at the signer",
			Text: "For a hashedrekord entry the signing certificate is in .spec.signature.publicKey.content (base64 PEM). " +
				"Its subject alternative name is the identity, and the Fulcio extensions (1.3.6.1.4.1.57264.1.8 issuer, .1.12 source repository URI, ...) " +
				"should equal the event's identity fields.",
			Cmd: "jq -r .spec.signature.publicKey.content " + f + " | base64 -d | openssl x509 -noout -text"})
	}
	if e.Reason == "inclusion" && len(e.Evidence.Proof) > 0 && allHex(e.Evidence.Proof) && leaf != "" {
		nw := parseNoteHead(e.Evidence.NewCheckpoint)
		if nw.OK {
			steps = append(steps, step{Title: "Check the inclusion proof",
				Text: "The proof must lead from the leaf hash to the new checkpoint's root hash (shown here in hex). The leaf index is the entry's index " +
					"in the tree the checkpoint signs: for a Rekor v1 shard, the log index less the shard's first index. " + goProgramNote,
				Cmd: "jq -r '.evidence.proof[]' event.json > proof.txt\n" +
					fmt.Sprintf("go run inclusion.go %d %d %s %s < proof.txt", idx, nw.Size, leaf, nw.RootHex),
				Program: inclusionProgram, ProgramName: "inclusion.go"})
		}
	}
	return steps
}

func allHex(hs []string) bool {
	for _, h := range hs {
		if !isHex(h) {
			return false
		}
	}
	return true
}

// entrySteps are the steps that check the entry view's entry by hand; lg
// is its log, nil when unknown.
func entrySteps(e *search.Entry, lg *Log) []step {
	var steps []step
	leaf := ""
	if isHex(e.LeafHash) {
		leaf = strings.ToLower(e.LeafHash)
	}
	must := func(h string) string {
		if h == "" {
			return ""
		}
		return "   # must print " + h
	}
	if len(e.Body) > 0 {
		steps = append(steps, step{Title: "Hash the entry body",
			Text: "Copy the body (base64, below) into body.b64. The leaf hash is SHA-256(0x00 || body), over the body as the log served it (RFC 6962).",
			Cmd:  "base64 -d body.b64 > body.bin\nprintf '\\0' | cat - body.bin | sha256sum" + must(leaf)})
	}
	cmd, note, ok := fetchEntry(lg, e.Index)
	fetch := step{Title: "Fetch the entry from the log", Text: note, Cmd: cmd}
	if ok {
		fetch.Cmd += "\nprintf '\\0' | cat - log-body.bin | sha256sum" + must(leaf)
		if len(e.Body) > 0 {
			fetch.Cmd += "\ncmp body.bin log-body.bin && echo 'the log serves the same body'"
		}
	}
	steps = append(steps, fetch)
	if p := e.Proof; p != nil && leaf != "" && isHex(p.RootHash) && allHex(p.Hashes) {
		root := strings.ToLower(p.RootHash)
		steps = append(steps, step{Title: "Check the inclusion proof",
			Text: "Copy the proof hashes into proof.txt and the checkpoint into checkpoint.note. Check the checkpoint's signature with the log's key " +
				"(docs/runbooks.md, step 1); its third line is the root hash in base64, which must be the proof's root hash. " + goProgramNote,
			Cmd: "sed -n 3p checkpoint.note | base64 -d | od -An -tx1 | tr -d ' \\n'; echo" + must(root) + "\n" +
				fmt.Sprintf("go run inclusion.go %d %d %s %s < proof.txt", p.LeafIndex, p.TreeSize, leaf, root),
			Program: inclusionProgram, ProgramName: "inclusion.go"})
	}
	if len(e.Certificates) > 0 {
		steps = append(steps, step{Title: "Read a certificate",
			Text: "Save a certificate's PEM (below) as cert.pem.",
			Cmd:  "openssl x509 -in cert.pem -noout -text"})
	}
	return steps
}
