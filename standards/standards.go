// Package standards loads Qingliu's standards tables — GB 3838-2002 water
// classes, the HJ 633 AQI versions with the GB 3095 averaging rules, and the
// severity mappings onto the unified warning scale — from versioned YAML
// files (configs/standards/*.yaml), validates every one and reports every
// problem at once.
//
// The tables themselves live in the sub-packages water, aqi and severity;
// this package only finds the files, dispatches on their kind: field and
// assembles a Set.
package standards

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/qingliu/qingliu/internal/conf"
	"github.com/qingliu/qingliu/standards/aqi"
	"github.com/qingliu/qingliu/standards/meta"
	"github.com/qingliu/qingliu/standards/severity"
	"github.com/qingliu/qingliu/standards/water"
)

// DefaultDir is where the shipped tables live in the repository, relative to
// its root. The same files are built into the binary (package configs) for
// the commands that run outside a checkout.
const DefaultDir = "configs/standards"

// Set is every standards table, compiled and validated. It is immutable and
// safe for concurrent use.
type Set struct {
	Water    *water.Table
	AQI      *aqi.Standards
	Severity *severity.Mappings
	// Tables lists the header of every file loaded, in file-name order.
	Tables []meta.Info
}

var kinds = []string{water.Kind, aqi.Kind, aqi.ValidityKind, severity.Kind}

// Load reads every *.yaml file in dir, validates each by its kind (water,
// aqi, aqi-validity, severity) and assembles the Set. It needs exactly one
// water table, one aqi-validity file, one severity file and at least one aqi
// version. The error, if any, is a *conf.Error listing every problem of
// every file with its file, path and reason.
func Load(dir string) (*Set, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		ps := conf.Problems{File: dir}
		ps.Addf("", "not a readable directory")
		return nil, ps.Err()
	}
	return LoadFS(os.DirFS(dir), dir)
}

// LoadFS is Load over the *.yaml files at the root of fsys, such as the
// tables built into the binary; name is how problems refer to the directory.
func LoadFS(fsys fs.FS, name string) (*Set, error) {
	ps := conf.Problems{File: name}
	files, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		ps.Addf("", "list tables: %v", err)
		return nil, ps.Err()
	}
	slices.Sort(files)

	set := &Set{}
	var versions []*aqi.Version
	var validity *aqi.Validity
	first := map[string]string{}
	for _, base := range files {
		file := filepath.Join(name, base)
		data, err := fs.ReadFile(fsys, base)
		if err != nil {
			ps.Merge(&conf.Error{Problems: []conf.Problem{{File: file, Msg: "cannot read: " + err.Error()}}})
			continue
		}
		var peek map[string]any
		if err := conf.DecodeStrict(file, data, &peek); err != nil {
			ps.Merge(err)
			continue
		}
		kind, _ := peek["kind"].(string)
		if prev, dup := first[kind]; dup && kind != aqi.Kind {
			ps.Merge(problem(file, "kind", "second %s table (the first is %s)", kind, filepath.Base(prev)))
			continue
		}
		first[kind] = file
		switch kind {
		case water.Kind:
			set.Water, err = water.Parse(file, data)
			if err == nil {
				set.Tables = append(set.Tables, set.Water.Info())
			}
		case aqi.Kind:
			var v *aqi.Version
			if v, err = aqi.ParseVersion(file, data); err == nil {
				versions = append(versions, v)
				set.Tables = append(set.Tables, v.Info())
			}
		case aqi.ValidityKind:
			if validity, err = aqi.ParseValidity(file, data); err == nil {
				set.Tables = append(set.Tables, validity.Info())
			}
		case severity.Kind:
			if set.Severity, err = severity.Parse(file, data); err == nil {
				set.Tables = append(set.Tables, set.Severity.Info())
			}
		default:
			delete(first, kind)
			err = problem(file, "kind", "unknown kind %q (want one of %v)", kind, kinds)
		}
		ps.Merge(err)
	}
	for _, k := range kinds {
		if _, ok := first[k]; !ok {
			ps.Addf("", "no %s table (a *.yaml file with kind: %s)", k, k)
		}
	}
	if len(versions) > 0 && validity != nil {
		set.AQI, err = aqi.NewStandards(versions, validity)
		if err != nil {
			ps.Addf("", "%v", err)
		}
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return set, nil
}

func problem(file, path, format string, args ...any) error {
	p := conf.Problems{File: file}
	p.Addf(path, format, args...)
	return p.Err()
}

// String describes the set for logs and `qingliu check`.
func (s *Set) String() string {
	out := ""
	for i, t := range s.Tables {
		if i > 0 {
			out += "; "
		}
		out += fmt.Sprintf("%s %s (from %s)", t.Kind, t.Standard, t.EffectiveFrom.Format("2006-01-02"))
	}
	return out
}
