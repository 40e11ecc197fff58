package sim

import "github.com/qingliu/qingliu/registry"

// lookupParam returns the canonical unit and plausible range of param from
// the registry's catalogue.
func lookupParam(param string) (registry.Param, bool) { return registry.LookupParam(param) }

// convertUnit converts v between two units of one quantity.
func convertUnit(v float64, from, to string) (float64, error) { return registry.Convert(v, from, to) }
