package sale

import (
	"fmt"
	"slices"
	"testing"
)

// presetMutations are a preset's one-step weakenings: each condition
// removed, each source of each field removed, and each object id source
// removed.
func presetMutations(p *Preset) map[string]*Preset {
	out := map[string]*Preset{}
	for i, c := range p.When {
		m := p.clone()
		m.When = slices.Delete(m.When, i, i+1)
		out[fmt.Sprintf("without condition %q", c.String())] = m
	}
	for field, sources := range p.Fields {
		for i, src := range sources {
			m := p.clone()
			m.Fields[field] = slices.Delete(m.Fields[field], i, i+1)
			if len(m.Fields[field]) == 0 {
				delete(m.Fields, field)
			}
			out[fmt.Sprintf("without %s source %q", field, src)] = m
		}
	}
	for i, src := range p.ObjectID {
		m := p.clone()
		m.ObjectID = slices.Delete(m.ObjectID, i, i+1)
		out[fmt.Sprintf("without object id source %q", src)] = m
	}
	return out
}

// Every condition and every source of every preset is there for a reason
// a fixture shows: removing any one of them changes what some fixture
// becomes. A preset line no fixture depends on is either dead or untested.
func TestPresetMutationsAreCaught(t *testing.T) {
	for _, name := range PresetNames() {
		for what, mutant := range presetMutations(presetRegistry[name]) {
			spec, err := buildSpec(mutant, SpecConfig{Kind: mutant.kind()})
			if err != nil {
				continue // refused outright: caught
			}
			caught := false
			for _, tc := range presetCases[name] {
				if presetOutcome(t, spec, name, tc) != tc.expected() {
					caught = true
					break
				}
			}
			if !caught {
				t.Errorf("%s %s: every fixture still comes out as expected", name, what)
			}
		}
	}
}
