// Package chart carries the vigil-monitor Helm chart (the files next to this
// one) inside Go binaries, so that `bootstrap up` can install the monitor
// without a checkout. The chart itself is plain Helm; .helmignore keeps this
// file out of packaged charts.
package chart

import "embed"

// Files is the chart directory: Chart.yaml, README.md, values.yaml,
// values.schema.json, .helmignore, templates/ (with _helpers.tpl: hence all:)
// and files/.
//
//go:embed Chart.yaml README.md values.yaml values.schema.json .helmignore all:templates all:files
var Files embed.FS
