// Package configs builds the shipped standards tables into the binary, so
// that the analyst commands (qingliu aqi, water-class, level) and rules
// test give the same answers from any directory. The YAML files here stay
// the one source: the pipeline stages read them from disk through
// files.standards, and --standards DIR points any command at edited copies.
package configs

import (
	"embed"
	"io/fs"
)

//go:embed standards/*.yaml
var standardsFS embed.FS

// Standards returns the tables of configs/standards as built into the binary.
func Standards() fs.FS {
	sub, err := fs.Sub(standardsFS, "standards")
	if err != nil {
		panic(err) // unreachable: the directory is embedded above
	}
	return sub
}
