package config

import (
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/provisioning/mapping"
)

// mappingTypes and applyModes are the valid spellings, in the order messages list them.
var (
	mappingTypes = []string{string(mapping.Direct), string(mapping.Constant), string(mapping.Expression), string(mapping.None)}
	applyModes   = []string{string(mapping.Always), string(mapping.OnCreate)}
)

// operator classes.
var (
	unaryOperators   = []mapping.Operator{mapping.OpIsFalse, mapping.OpIsTrue, mapping.OpIsNull, mapping.OpIsNotNull}
	integerOperators = []mapping.Operator{mapping.OpAnd, mapping.OpNotAnd, mapping.OpGreaterThan, mapping.OpGreaterEquals}
	regexOperators   = []mapping.Operator{mapping.OpRegexMatch, mapping.OpNotRegexMatch}
)

func (d *decoder) jobs(f field, conns map[string]ConnectorConfig, haveConns bool) []JobConfig {
	items, ok := f.list()
	if !ok {
		return nil
	}
	if len(items) == 0 {
		f.errorf("want at least one job")
	}
	names := make([]string, 0, len(conns))
	for name := range conns {
		names = append(names, name)
	}
	slices.Sort(names)
	firstLine := map[string]int{}
	jobs := make([]JobConfig, 0, len(items))
	for _, it := range items {
		jc, idField := d.job(it, conns, names, haveConns)
		if id := jc.Job.ID; id != "" {
			if line, dup := firstLine[id]; dup {
				idField.errorf("duplicate job id %q (first at line %d)", id, line)
			} else {
				firstLine[id] = idField.at().Line
			}
		}
		jobs = append(jobs, jc)
	}
	return jobs
}

// job decodes one job; it returns the id field for the duplicate check.
func (d *decoder) job(it field, conns map[string]ConnectorConfig, names []string, haveConns bool) (JobConfig, field) {
	var jc JobConfig
	if !it.present() {
		it.errorf("want a job (a mapping), got an empty value")
		return jc, it
	}
	o := it.object()
	if o.node == nil {
		return jc, it
	}
	jc.Line = o.node.Line
	job := &jc.Job

	idField := o.get("id")
	if idField.need() {
		if t, ok := idField.scalar("a string"); ok {
			if idPattern.MatchString(t.s) {
				job.ID = t.s
			} else {
				idField.errorf("invalid job id %s: %s", t.q(), idRule)
			}
		}
	}
	job.Name = job.ID
	if f := o.get("name"); f.present() {
		if s, ok := f.nonEmpty(); ok {
			job.Name = s
		}
	}

	ref := func(key string) (string, *ConnectorConfig) {
		f := o.get(key)
		if !f.need() {
			return "", nil
		}
		name, ok := f.str()
		if !ok {
			return "", nil
		}
		c, found := conns[name]
		switch {
		case found:
			return name, &c
		case !haveConns:
			// "connectors: required" is reported already.
		case len(names) == 0:
			f.errorf("unknown connector %q: no connectors are defined", name)
		default:
			if hint := didYouMean(name, names); hint != "" {
				f.errorf("unknown connector %q%s", name, hint)
			} else {
				f.errorf("unknown connector %q: want %s", name, orList(quoteAll(names)))
			}
		}
		return name, nil
	}
	var src, dst *ConnectorConfig
	jc.Source, src = ref("source")
	jc.Target, dst = ref("target")
	if dst != nil && dst.Type == TypeFile {
		o.get("target").errorf("connector %q is a file connector, which cannot be a target", jc.Target)
	}
	job.SourceSystem, job.TargetSystem = jc.Source, jc.Target

	job.Schedule = d.schedule(o.get("schedule").object())
	job.Settings = d.settings(o.get("settings").object())

	if f := o.get("users"); f.need() {
		job.Users = d.objectMapping(f)
	}
	if f := o.get("groups"); f.present() {
		m := d.objectMapping(f)
		job.Groups = &m
		if src != nil && src.File != nil && src.File.Groups == "" {
			f.errorf("source connector %q has no groups file (set connectors.%s.groups)", jc.Source, jc.Source)
		}
	}
	o.end()
	return jc, idField
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

func (d *decoder) schedule(o *obj) provisioning.Schedule {
	s := provisioning.Schedule{Interval: provisioning.Duration(provisioning.DefaultInterval)}
	if f := o.get("interval"); f.present() {
		if v, ok := f.duration(); ok {
			s.Interval = provisioning.Duration(v)
		}
	}
	if f := o.get("paused"); f.present() {
		s.Paused, _ = f.bool()
	}
	o.end()
	return s
}

func (d *decoder) settings(o *obj) provisioning.Settings {
	var s provisioning.Settings
	defaults := s.Defaults()
	if f := o.get("skipOutOfScopeDeletions"); f.present() {
		s.SkipOutOfScopeDeletions, _ = f.bool()
	}
	if f := o.get("deletionThreshold"); f.present() {
		s.DeletionThreshold, _ = f.intIn(0, math.MaxInt32)
	}
	if f := o.get("deletionThresholdPercent"); f.present() {
		if v, ok := f.float(); ok {
			if v < 0 || v > 100 {
				f.errorf("must be between 0 and 100, got %g", v)
			} else {
				s.DeletionThresholdPercent = v
			}
		}
	}
	positive := func(key string, dst *int, def int) {
		f := o.get(key)
		if !f.present() {
			return
		}
		if v, ok := f.int(); ok {
			if v < 1 {
				f.errorf("must be at least 1, got %d (omit it for the default, %d)", v, def)
			} else {
				*dst = v
			}
		}
	}
	positive("quarantineBaseEscrows", &s.QuarantineBaseEscrows, defaults.QuarantineBaseEscrows)
	positive("quarantineTotalEscrows", &s.QuarantineTotalEscrows, defaults.QuarantineTotalEscrows)
	positive("quarantineAbsoluteCap", &s.QuarantineAbsoluteCap, defaults.QuarantineAbsoluteCap)
	if f := o.get("quarantineProportion"); f.present() {
		if v, ok := f.float(); ok {
			if v <= 0 || v > 1 {
				f.errorf("must be greater than 0 and at most 1, got %g", v)
			} else {
				s.QuarantineProportion = v
			}
		}
	}
	if f := o.get("quarantineBackoff"); f.present() {
		if items, ok := f.list(); ok {
			if len(items) == 0 {
				f.errorf("want at least one duration (omit it for the default, 6h, 12h, 24h)")
			}
			for _, it := range items {
				if !it.present() {
					it.errorf("want a duration, got an empty value")
				} else if v, ok := it.duration(); ok {
					s.QuarantineBackoff = append(s.QuarantineBackoff, provisioning.Duration(v))
				}
			}
		}
	}
	for key, dst := range map[string]*provisioning.Duration{
		"quarantineMaxDuration": &s.QuarantineMaxDuration,
		"escrowRetryBase":       &s.EscrowRetryBase,
		"escrowRetryMax":        &s.EscrowRetryMax,
		"escrowMaxAge":          &s.EscrowMaxAge,
	} {
		if f := o.get(key); f.present() {
			v, _ := f.duration()
			*dst = provisioning.Duration(v)
		}
	}
	if f := o.get("workers"); f.present() {
		s.Workers, _ = f.intIn(1, 256)
	}
	if f := o.get("batchSize"); f.present() {
		s.BatchSize, _ = f.intIn(1, 10000)
	}
	if f := o.get("maxRequestsPerSecond"); f.present() {
		if v, ok := f.float(); ok {
			if v < 0 {
				f.errorf("must not be negative, got %g", v)
			} else {
				s.MaxRequestsPerSecond = v
			}
		}
	}
	o.end()
	s = s.Defaults()
	if s.EscrowRetryBase > s.EscrowRetryMax {
		base, limit := shortDuration(s.EscrowRetryBase.D()), shortDuration(s.EscrowRetryMax.D())
		if f := o.get("escrowRetryBase"); f.present() {
			f.errorf("must not exceed escrowRetryMax (%s), got %s", limit, base)
		} else {
			o.get("escrowRetryMax").errorf("must not be less than escrowRetryBase (%s, the default), got %s", base, limit)
		}
	}
	return s
}

// shortDuration prints d without zero units ("40m", "24h", "1h30m").
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// objectMapping decodes an object mapping: attribute mappings and scoping filters.
func (d *decoder) objectMapping(f field) mapping.ObjectMapping {
	var m mapping.ObjectMapping
	before := len(d.errs)
	o := f.object()
	if o.node == nil {
		return m
	}
	var fields mappingFields
	if af := o.get("attributes"); af.need() {
		if items, ok := af.list(); ok {
			if len(items) == 0 {
				af.errorf("want at least one attribute mapping")
			}
			targets := map[string]field{}
			precedences := map[int]field{}
			matching := false
			for _, it := range items {
				am, af, ok := d.attributeMapping(it)
				if !ok {
					continue
				}
				m.Attributes = append(m.Attributes, am)
				fields.attrs = append(fields.attrs, it)
				fields.exprs = append(fields.exprs, af.expr)
				if am.Target != "" {
					key := strings.ToLower(am.Target)
					if first, dup := targets[key]; dup {
						af.target.errorf("target %q is already mapped by %s (line %d)", am.Target, lastElem(first.path), first.at().Line)
					} else {
						targets[key] = af.target
					}
				}
				if am.MatchingPrecedence > 0 {
					matching = true
					if first, dup := precedences[am.MatchingPrecedence]; dup {
						af.prec.errorf("matching precedence %d is already used by %s (line %d)", am.MatchingPrecedence, lastElem(first.path), first.at().Line)
					} else {
						precedences[am.MatchingPrecedence] = af.prec
					}
				}
			}
			if !matching && len(items) > 0 && len(d.errs) == before {
				af.errorf("no matching attribute: set matchingPrecedence: 1 on the attribute that identifies target objects (e.g. userName)")
			}
		}
	}
	if sf := o.get("scoping"); sf.present() {
		if items, ok := sf.list(); ok {
			for _, it := range items {
				if filter, clauses, ok := d.scopingFilter(it); ok {
					m.Scoping = append(m.Scoping, filter)
					fields.filters = append(fields.filters, it)
					fields.clauses = append(fields.clauses, clauses)
				}
			}
		}
	}
	o.end()
	if len(d.errs) == before {
		d.compile(f, m, fields)
	}
	return m
}

// lastElem is the last element of a field path: "attributes[2]" of
// "jobs[0].users.attributes[2].target".
func lastElem(path string) string {
	parts := strings.Split(path, ".")
	for i := len(parts) - 1; i >= 0; i-- {
		if strings.Contains(parts[i], "[") {
			return parts[i]
		}
	}
	return path
}

// attrFields are fields of an attribute mapping that later checks report at.
type attrFields struct{ target, prec, expr field }

// attributeMapping decodes one attribute mapping.
func (d *decoder) attributeMapping(it field) (am mapping.AttributeMapping, af attrFields, ok bool) {
	if !it.present() {
		it.errorf("want an attribute mapping, got an empty value")
		return am, af, false
	}
	o := it.object()
	if o.node == nil {
		return am, af, false
	}
	before := len(d.errs)
	if f := o.get("type"); f.need() {
		t, _ := f.enum("mapping type", mappingTypes...)
		am.Type = mapping.Type(t)
	}
	source, value, expr := o.get("source"), o.get("value"), o.get("expression")
	switch am.Type {
	case mapping.Direct:
		if source.need() {
			am.Source, _ = source.nonEmpty()
		}
		value.notWith("mapping type Direct")
		expr.notWith("mapping type Direct")
	case mapping.Constant:
		if value.need() {
			am.Value, _ = value.str()
		}
		source.notWith("mapping type Constant")
		expr.notWith("mapping type Constant")
	case mapping.Expression:
		if expr.need() {
			am.Expression, _ = expr.nonEmpty()
		}
		source.notWith("mapping type Expression")
		value.notWith("mapping type Expression")
	case mapping.None:
		source.notWith("mapping type None")
		value.notWith("mapping type None")
		expr.notWith("mapping type None")
	}
	af.expr = expr
	af.target = o.get("target")
	if af.target.need() {
		am.Target, _ = af.target.nonEmpty()
	}
	if f := o.get("defaultValue"); f.present() {
		am.Default, _ = f.str()
	}
	if f := o.get("apply"); f.present() {
		a, _ := f.enum("apply", applyModes...)
		am.Apply = mapping.Apply(a)
	}
	af.prec = o.get("matchingPrecedence")
	if af.prec.present() {
		am.MatchingPrecedence, _ = af.prec.intIn(0, math.MaxInt32)
	}
	if f := o.get("reference"); f.present() {
		am.Reference, _ = f.bool()
	}
	if f := o.get("required"); f.present() {
		am.Required, _ = f.bool()
	}
	o.end()
	return am, af, len(d.errs) == before
}

// scopingFilter decodes a scoping filter; it returns its clauses' fields for
// mapping.Compile's errors.
func (d *decoder) scopingFilter(it field) (sf mapping.ScopingFilter, clauses []field, ok bool) {
	if !it.present() {
		it.errorf("want a scoping filter, got an empty value")
		return sf, nil, false
	}
	o := it.object()
	if o.node == nil {
		return sf, nil, false
	}
	before := len(d.errs)
	if f := o.get("name"); f.need() {
		sf.Name, _ = f.nonEmpty()
	}
	if f := o.get("clauses"); f.need() {
		if items, ok := f.list(); ok {
			if len(items) == 0 {
				f.errorf("want at least one clause")
			}
			for _, it := range items {
				if c, ok := d.clause(it); ok {
					sf.Clauses = append(sf.Clauses, c)
					clauses = append(clauses, it)
				}
			}
		}
	}
	o.end()
	return sf, clauses, len(d.errs) == before
}

func (d *decoder) clause(it field) (mapping.Clause, bool) {
	var c mapping.Clause
	if !it.present() {
		it.errorf("want a clause, got an empty value")
		return c, false
	}
	o := it.object()
	if o.node == nil {
		return c, false
	}
	before := len(d.errs)
	if f := o.get("attribute"); f.need() {
		c.Attribute, _ = f.nonEmpty()
	}
	if f := o.get("operator"); f.need() {
		if t, ok := f.scalar("a string"); ok {
			if op, ok := mapping.NormalizeOperator(mapping.Operator(t.s)); ok {
				c.Operator = op
			} else {
				names := make([]string, len(mapping.Operators))
				for i, op := range mapping.Operators {
					names[i] = string(op)
				}
				f.errorf("invalid operator %s%s: want %s", t.q(), didYouMean(t.s, names), orList(names))
			}
		}
	}
	value := o.get("value")
	switch {
	case c.Operator == "":
	case slices.Contains(unaryOperators, c.Operator):
		value.notWith("operator %s", c.Operator)
	case !value.need():
	default:
		t, ok := value.scalar("a string")
		if !ok {
			break
		}
		c.Value = t.s
		switch {
		case slices.Contains(integerOperators, c.Operator):
			if _, err := strconv.ParseInt(strings.TrimSpace(t.s), 10, 64); err != nil {
				value.errorf("operator %s wants an integer, got %s", c.Operator, t.q())
			}
		case slices.Contains(regexOperators, c.Operator):
			if _, err := regexp.Compile(t.s); err != nil {
				if len(t.vars) > 0 {
					value.errorf("invalid regular expression %s", t.q())
				} else {
					value.errorf("invalid regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
				}
			}
		}
	}
	o.end()
	return c, len(d.errs) == before
}
