package hrgen

import (
	"math/rand/v2"
	"slices"
	"time"
)

// Churn per day, per 10,000 users (at least one of each kind when there are users).
const (
	leaversPer10k = 15 // a third hard-deleted, the rest disabled
	movesPer10k   = 30
	hiresPer10k   = 20
)

// Step applies one day of churn, seeded by the step number n: hires, leavers (some
// hard-deleted, some disabled), moves (department and jobTitle, jobTitle or manager) and
// group membership changes. Applying the same steps to the same dataset gives the same
// result. Reports of deleted users move to their manager's manager; deleted users leave
// their groups.
func (d *Dataset) Step(n int) Summary {
	rng := rand.New(rand.NewPCG(uint64(d.seed)^0x7374_6570_5f5f_6e6e, uint64(n)))
	s := Summary{Step: n}
	if len(d.Users) == 0 {
		return s
	}
	total := len(d.Users)
	per := func(per10k int) int { return max(1, total*per10k/10000) }
	upserted := map[string]bool{}
	busy := map[string]bool{d.ceo: true} // users already changed in this step

	// Leavers.
	deleted := map[string]string{} // id → manager
	for range per(leaversPer10k) {
		u := d.pick(rng, busy)
		if u == nil {
			break
		}
		id := u["id"].(string)
		if rng.IntN(3) == 0 || u["accountEnabled"] == false {
			deleted[id], _ = u["manager"].(string)
			s.Deleted++
		} else {
			u["accountEnabled"] = false
			upserted[id] = true
			s.Disabled++
		}
	}

	// Moves.
	for range per(movesPer10k) {
		u := d.pick(rng, busy)
		if u == nil {
			break
		}
		if d.move(rng, u, deleted) {
			upserted[u["id"].(string)] = true
			s.Moves++
		}
	}

	// Hires (numbers only grow, so Users stays sorted).
	for range per(hiresPer10k) {
		u := d.hire(rng, n, deleted)
		d.Users = append(d.Users, u)
		upserted[u["id"].(string)] = true
		s.Hires++
	}

	// Group membership.
	changedGroups := map[string]bool{}
	if len(d.Groups) > 0 {
		for range max(1, len(d.Groups)/10) {
			g := d.Groups[rng.IntN(len(d.Groups))]
			members, _ := g["members"].([]string)
			in := make(map[string]bool, len(members))
			for _, m := range members {
				in[m] = true
			}
			changed := false
			for range rng.IntN(3) {
				if len(members) == 0 {
					break
				}
				i := rng.IntN(len(members))
				members = slices.Delete(members, i, i+1)
				s.MembersRemoved++
				changed = true
			}
			for range 1 + rng.IntN(3) {
				u := d.Users[rng.IntN(len(d.Users))]
				id := u["id"].(string)
				if _, gone := deleted[id]; gone || in[id] {
					continue
				}
				in[id] = true
				members = append(members, id)
				s.MembersAdded++
				changed = true
			}
			if changed {
				slices.SortFunc(members, func(a, b string) int { return idNum(a) - idNum(b) })
				g["members"] = members
				changedGroups[g["id"].(string)] = true
			}
		}
	}

	// Apply deletions.
	if len(deleted) > 0 {
		kept := d.Users[:0]
		for _, u := range d.Users {
			id := u["id"].(string)
			if _, gone := deleted[id]; gone {
				continue
			}
			if m, ok := u["manager"].(string); ok {
				if _, gone := deleted[m]; gone {
					for {
						next, gone := deleted[m]
						if !gone {
							break
						}
						m = next
					}
					u["manager"] = m
					upserted[id] = true
					s.Reassigned++
				}
			}
			kept = append(kept, u)
		}
		clear(d.Users[len(kept):])
		d.Users = kept
		for _, g := range d.Groups {
			members, _ := g["members"].([]string)
			out := members[:0]
			for _, m := range members {
				if _, gone := deleted[m]; !gone {
					out = append(out, m)
				}
			}
			if len(out) != len(members) {
				s.MembersRemoved += len(members) - len(out)
				g["members"] = out
				changedGroups[g["id"].(string)] = true
			}
		}
	}
	s.UsersUpserted = len(upserted)
	s.GroupsChanged = len(changedGroups)
	return s
}

// pick returns a random user not yet changed in this step (and marks it), or nil.
func (d *Dataset) pick(rng *rand.Rand, busy map[string]bool) map[string]any {
	for range 100 {
		u := d.Users[rng.IntN(len(d.Users))]
		id := u["id"].(string)
		if !busy[id] {
			busy[id] = true
			return u
		}
	}
	return nil
}

// move changes u's department (and jobTitle), jobTitle or manager; it reports whether
// something changed.
func (d *Dataset) move(rng *rand.Rand, u map[string]any, deleted map[string]string) bool {
	dept := deptIndex(u["department"].(string))
	switch rng.IntN(3) {
	case 0: // department change, with an individual-contributor title of the new one
		nd := pickDept(rng, false)
		if nd == int(dept) {
			nd = (nd + 1) % internsDept
		}
		u["department"] = departments[nd].Name
		u["jobTitle"] = departments[nd].Titles[rng.IntN(len(departments[nd].Titles))]
		return true
	case 1: // new title in the same department
		titles := departments[dept].Titles
		if len(titles) > 1 {
			cur := u["jobTitle"]
			for range 10 {
				if t := titles[rng.IntN(len(titles))]; t != cur {
					u["jobTitle"] = t
					return true
				}
			}
		}
		fallthrough
	default: // new manager: the manager of a random colleague, never in u's own subtree
		id := u["id"].(string)
		cur, _ := u["manager"].(string)
		for range 50 {
			other := d.Users[rng.IntN(len(d.Users))]
			m, _ := other["manager"].(string)
			if _, gone := deleted[m]; gone || m == "" || m == cur || m == id || d.reportsTo(m, id) {
				continue
			}
			u["manager"] = m
			return true
		}
		return false
	}
}

// reportsTo reports whether user id is boss or (indirectly) reports to boss.
func (d *Dataset) reportsTo(id, boss string) bool {
	for range len(d.Users) {
		if id == boss {
			return true
		}
		i := d.find(id)
		if i < 0 {
			return false
		}
		m, ok := d.Users[i]["manager"].(string)
		if !ok {
			return false
		}
		id = m
	}
	return false
}

// hire makes a new user reporting to the manager of a random colleague in its department.
func (d *Dataset) hire(rng *rand.Rand, step int, deleted map[string]string) map[string]any {
	dept := pickDept(rng, true)
	mgr := d.ceo
	for range 50 {
		other := d.Users[rng.IntN(len(d.Users))]
		m, _ := other["manager"].(string)
		if m == "" {
			continue
		}
		if _, gone := deleted[m]; gone {
			continue
		}
		mgr = m
		if other["department"] == departments[dept].Name {
			break
		}
	}
	title := departments[dept].Titles[rng.IntN(len(departments[dept].Titles))]
	num := d.nextNum
	d.nextNum++
	hired := int(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Sub(epoch).Hours()/24) + step
	u, _ := d.newUser(rng, num, dept, title, any(mgr), true, hired)
	if u["employeeType"] == "Employee" && dept != internsDept {
		switch r := rng.IntN(1000); {
		case r < missingNamePerMille:
			breakNames(u)
		case r < missingNamePerMille+badMailPerMille:
			breakMail(u)
		case r < missingNamePerMille+badMailPerMille+duplicateNamePerMille:
			u["userName"] = d.Users[rng.IntN(len(d.Users))]["userName"]
		}
	}
	return u
}
