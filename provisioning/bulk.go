package provisioning

import (
	"fmt"

	"github.com/provisiond/provisiond/connectors"
)

// bulkIndex holds the target's objects by matching attribute value, built from one paged
// listing at the start of an initial cycle, so that matching costs no request per object.
type bulkIndex struct {
	// byAttr: matching attribute → normalized value → target IDs.
	byAttr map[string]map[string][]string
}

// buildBulkIndex lists the target's objects of typ when the target can list them.
func (cr *cycleRun) buildBulkIndex(typ connectors.ObjectType) error {
	j := cr.j
	lister, ok := j.tgt.(connectors.Lister)
	if !ok {
		return nil
	}
	m := j.job.Users
	if typ == connectors.TypeGroup {
		if j.job.Groups == nil {
			return nil
		}
		m = *j.job.Groups
	}
	var attrs []string
	for _, a := range m.Attributes {
		if a.MatchingPrecedence > 0 {
			attrs = append(attrs, a.Target)
		}
	}
	if len(attrs) == 0 {
		return nil
	}
	bi := &bulkIndex{byAttr: map[string]map[string][]string{}}
	for _, a := range attrs {
		bi.byAttr[a] = map[string][]string{}
	}
	n := 0
	err := lister.List(cr.ctx, typ, attrs, func(o connectors.TargetObject) error {
		n++
		for _, a := range attrs {
			v, ok := o.Attributes[a]
			if !ok || v == nil {
				continue
			}
			k := normValue(v)
			bi.byAttr[a][k] = append(bi.byAttr[a][k], o.ID)
		}
		return nil
	})
	if err != nil {
		if isQuarantineException(err) {
			cr.fatal = &fatalError{err: err}
			return nil
		}
		// Fall back to one query per object.
		j.e.log.Warn("listing the target for bulk matching failed; matching per object", "job", j.job.ID, "type", typ, "error", err)
		return nil
	}
	j.e.log.Info(fmt.Sprintf("bulk matching: listed %d target %s objects", n, typ), "job", j.job.ID)
	cr.bulk[typ] = bi
	return nil
}
