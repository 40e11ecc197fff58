package rules

import (
	"fmt"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/qingliu/qingliu/domain"
)

// Env is what a when: expression sees. For example
//
//	when: 'values.do < 3 && hour >= 20'
//	when: 'drinking_source || value > 2 * 1.5'
type Env struct {
	// Value is the value the rule evaluated (the latest value or mean, the
	// rate, the class number, the AQI).
	Value float64 `expr:"value"`
	// Values are every value of the reading being evaluated, by parameter.
	Values map[string]float64 `expr:"values"`
	// Station, Kind, River, City and Labels describe the station.
	Station        string            `expr:"station"`
	Kind           string            `expr:"kind"`
	River          string            `expr:"river"`
	City           string            `expr:"city"`
	Labels         map[string]string `expr:"labels"`
	DrinkingSource bool              `expr:"drinking_source"`
	// Hour (0–23) and Month (1–12) of the observation, China Standard Time.
	Hour  int `expr:"hour"`
	Month int `expr:"month"`
}

// whenProgram is a compiled when: expression.
type whenProgram struct {
	src string
	p   *vm.Program
}

func compileWhen(src string) (*whenProgram, error) {
	p, err := expr.Compile(src, expr.Env(Env{}), expr.AsBool())
	if err != nil {
		return nil, fmt.Errorf("compile when: %w", err)
	}
	return &whenProgram{src: src, p: p}, nil
}

// when evaluates the rule's when: expression; an evaluation error counts
// as false (the condition does not hold) and is counted in WhenErrors.
func (e *Engine) when(r *rule, p *stationPlan, rd *domain.Reading, value float64, t int64) bool {
	lt := time.Unix(0, t).In(chinaTime)
	e.whenE = Env{Value: value, Values: rd.Values, Station: p.st.ID, Kind: p.st.Kind, River: p.st.River,
		City: p.st.City, Labels: p.st.Labels, DrinkingSource: p.st.DrinkingSource, Hour: lt.Hour(), Month: int(lt.Month())}
	out, err := expr.Run(r.when.p, e.whenE)
	if err != nil {
		e.whenErrors++
		return false
	}
	b, _ := out.(bool)
	return b
}
