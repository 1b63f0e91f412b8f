package sale

import "slices"

// Placeholders lists every placeholder the spec may read, each once, in
// a fixed order.
func (s *Spec) Placeholders() []string {
	lists := [][]Source{s.ObjectID}
	for _, f := range Fields {
		lists = append(lists, s.Sources[f])
	}
	return placeholdersOf(lists...)
}

// Placeholders lists every placeholder the reference spec may read, each
// once.
func (r *RefSpec) Placeholders() []string {
	return placeholdersOf(r.Refs, r.Customer, r.Click)
}

func placeholdersOf(lists ...[]Source) []string {
	var out []string
	for _, list := range lists {
		for _, src := range list {
			if src.Placeholder != "" && !slices.Contains(out, src.Placeholder) {
				out = append(out, src.Placeholder)
			}
		}
	}
	return out
}

// Snapshot resolves placeholders now and returns a Resolver that answers
// from what they were then, and "" for any other: the body can then be
// read after the request has ended, when its replacer may no longer be
// touched.
func Snapshot(placeholders []string, resolve Resolver) Resolver {
	values := make(map[string]string, len(placeholders))
	for _, p := range placeholders {
		if v := resolve(p); v != "" {
			values[p] = v
		}
	}
	return func(placeholder string) string { return values[placeholder] }
}
