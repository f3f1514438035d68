// Package hrgen generates deterministic, realistic HR data (users in a management tree,
// groups with members) for provisiond's demo and benchmarks, and simulates day-to-day churn
// (hires, leavers, moves, membership changes) on it.
//
// The same Options always give the same dataset, and the same sequence of Step calls the
// same changes, so files written with WriteJSON or WriteCSV are byte-for-byte reproducible.
//
// Users carry these fields (the demo's attribute mappings rely on the names): id, userName,
// givenName, surname, displayName, mail, department, jobTitle, employeeType, manager,
// costCenter, country, accountEnabled, hireDate, employeeNumber. About 1.2 % of users are
// deliberately broken the way real HR data is: pairs sharing a userName, users with an empty
// givenName and surname and no displayName, and users with an invalid mail ("x@@domain").
package hrgen

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Domain is the mail and userName domain of generated users.
const Domain = "contoso.example"

// Options say what to generate.
type Options struct {
	Seed   int64
	Users  int
	Groups int
}

// Dataset is a generated HR export. Users are sorted by their numeric id, groups by id;
// member lists are sorted too. Change it with Step, not by hand, if Step is used later.
type Dataset struct {
	Users  []map[string]any
	Groups []map[string]any

	seed    int64
	width   int            // zero-padded width of user ids
	nextNum int            // next user number to hire
	ceo     string         // id of the user without a manager
	nameUse map[string]int // "first.last" → how many userNames used it
	box     *boxes
}

// Summary counts what one Step changed.
type Summary struct {
	Step int `json:"step"`
	// Hires are new users.
	Hires int `json:"hires"`
	// Deleted leavers were removed from the export; Disabled leavers got accountEnabled=false.
	Deleted  int `json:"deleted"`
	Disabled int `json:"disabled"`
	// Moves changed a user's department (and jobTitle), jobTitle or manager.
	Moves int `json:"moves"`
	// Reassigned users got a new manager because theirs was deleted.
	Reassigned int `json:"reassigned"`
	// MembersAdded and MembersRemoved count group membership changes (including the
	// removal of deleted users from their groups).
	MembersAdded   int `json:"membersAdded"`
	MembersRemoved int `json:"membersRemoved"`
	// UsersUpserted is the number of distinct users that are new or changed (what an
	// incremental read of the export reports as upserts); deletes are Deleted.
	UsersUpserted int `json:"usersUpserted"`
	// GroupsChanged is the number of distinct groups whose members changed.
	GroupsChanged int `json:"groupsChanged"`
}

func (s Summary) String() string {
	return fmt.Sprintf("step %d: %d hires, %d deleted, %d disabled, %d moves, %d reassigned, +%d/-%d members (%d users upserted, %d groups changed)",
		s.Step, s.Hires, s.Deleted, s.Disabled, s.Moves, s.Reassigned, s.MembersAdded, s.MembersRemoved, s.UsersUpserted, s.GroupsChanged)
}

// Fractions of generated users (per mille) with each property.
const (
	contractorPerMille    = 120 // of leaf users outside Interns (5/6 of all): 10 % overall
	disabledPerMille      = 20
	missingNamePerMille   = 4
	badMailPerMille       = 4
	duplicateNamePerMille = 4 // users whose userName copies another user's
	span                  = 7 // reports per manager in the tree
)

// Generate returns the dataset for o. It takes about 3 µs and 1.3 KB of memory per user
// (the users are maps).
func Generate(o Options) *Dataset {
	n := max(o.Users, 0)
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0x6872_6765_6e5f_7573))
	d := &Dataset{seed: o.Seed, width: 6, nameUse: map[string]int{}}
	if w := len(strconv.Itoa(n + n/2)); w > d.width {
		d.width = w
	}
	d.nextNum = n + 1

	// The management tree, in creation order: 0 is the CEO, the first user of each
	// department is its VP, then every department is a tree with `span` reports per
	// manager. Interns report to managers of other departments.
	type node struct {
		mgr     int32 // creation index of the manager, -1 for the CEO
		reports int32
		dept    int8
		grand   bool // some report has reports
	}
	nodes := make([]node, n)
	deptNodes := make([][]int32, len(departments))
	for c := range n {
		if c == 0 {
			nodes[0] = node{mgr: -1, dept: deptIndex("Operations")}
			continue
		}
		dp := pickDept(rng, true)
		mgr := int32(0)
		if dp == internsDept {
			if e := deptNodes[pickDept(rng, false)]; len(e) > 0 {
				mgr = e[rng.IntN((len(e)+span-1)/span)]
			}
		} else if k := len(deptNodes[dp]); k > 0 {
			mgr = deptNodes[dp][(k-1)/span]
		}
		nodes[c] = node{mgr: mgr, dept: int8(dp)}
		deptNodes[dp] = append(deptNodes[dp], int32(c))
		nodes[mgr].reports++
	}
	for c := 1; c < n; c++ {
		if nodes[c].reports > 0 {
			nodes[nodes[c].mgr].grand = true
		}
	}

	// Ids are a random permutation of the creation order, so that about half of the
	// reports of a manager come before the manager in id order.
	perm := rng.Perm(n)
	num := func(c int32) int { return perm[c] + 1 }
	d.Users = make([]map[string]any, n)
	contractor := make([]bool, n)
	region := make([]uint8, n)
	var eligible []int // positions of leaf employees in scope: candidates for broken data
	for c := range n {
		nd := nodes[c]
		dept := departments[nd.dept]
		var title string
		switch {
		case c == 0:
			title = "Chief Executive Officer"
		case nd.mgr == 0 && int(nd.dept) != internsDept && deptNodes[nd.dept][0] == int32(c):
			title = "VP " + dept.Name
		case nd.grand:
			title = "Director, " + dept.Name
		case nd.reports > 0:
			title = dept.Name + " Manager"
		default:
			title = dept.Titles[rng.IntN(len(dept.Titles))]
		}
		var mgr any
		if nd.mgr >= 0 {
			mgr = d.Users[perm[nd.mgr]]["id"]
		}
		leaf := nd.reports == 0 && c != 0
		u, ctry := d.newUser(rng, num(int32(c)), int(nd.dept), title, mgr, leaf, hireDay(rng, c))
		pos := perm[c]
		d.Users[pos] = u
		contractor[c] = u["employeeType"] == "Contractor"
		region[c] = ctry
		if leaf && !contractor[c] && int(nd.dept) != internsDept && u["accountEnabled"] == true {
			eligible = append(eligible, pos)
		}
		if c == 0 {
			d.ceo = u["id"].(string)
		}
	}

	// Broken records, disjoint, among leaf employees in scope (so that they reach a target).
	slices.Sort(eligible)
	rng.Shuffle(len(eligible), func(i, j int) { eligible[i], eligible[j] = eligible[j], eligible[i] })
	take := func(perMille int) []int {
		k := min((n*perMille+500)/1000, len(eligible))
		t := eligible[:k]
		eligible = eligible[k:]
		return t
	}
	for _, p := range take(missingNamePerMille) {
		breakNames(d.Users[p])
	}
	for _, p := range take(badMailPerMille) {
		breakMail(d.Users[p])
	}
	dups := take(duplicateNamePerMille)
	orig := take(duplicateNamePerMille)
	for i := range min(len(dups), len(orig)) {
		d.Users[dups[i]]["userName"] = d.Users[orig[i]]["userName"]
	}

	// Groups.
	all := make([]int32, n)
	for c := range all {
		all[c] = int32(c)
	}
	var managers []int32
	for c := range n {
		if nodes[c].reports > 0 {
			managers = append(managers, int32(c))
		}
	}
	members := func(from []int32, size int, keep func(int32) bool) []string {
		picked := sample(rng, from, size, keep)
		nums := make([]int, len(picked))
		for i, c := range picked {
			nums[i] = num(c)
		}
		slices.Sort(nums)
		ids := make([]string, len(nums))
		for i, v := range nums {
			ids[i] = d.id(v)
		}
		return ids
	}
	gs := groupSpecs(max(o.Groups, 0))
	d.Groups = make([]map[string]any, 0, len(gs))
	for i, g := range gs {
		var m []string
		switch g.kind {
		case gDept:
			m = members(deptNodes[g.dept], 20+rng.IntN(281), nil)
		case gRegion:
			r := uint8(g.region)
			m = members(deptNodes[g.dept], 5+rng.IntN(196), func(c int32) bool { return region[c] == r })
		case gManagers:
			m = members(managers, 300, nil)
		case gContractors:
			m = members(all, 50+rng.IntN(251), func(c int32) bool { return contractor[c] })
		default:
			size := 3 + rng.IntN(48)
			if rng.IntN(10) == 0 {
				size = 50 + rng.IntN(251)
			}
			m = members(all, size, nil)
		}
		d.Groups = append(d.Groups, map[string]any{
			"id":          fmt.Sprintf("G%04d", i+1),
			"displayName": g.name,
			"description": g.description,
			"members":     m,
		})
	}
	return d
}

// id formats a user number as an id ("E000123").
func (d *Dataset) id(num int) string {
	s := strconv.Itoa(num)
	if len(s) >= d.width {
		return "E" + s
	}
	return "E" + strings.Repeat("0", d.width-len(s)) + s
}

// idNum parses an id made by id.
func idNum(id string) int {
	v, _ := strconv.Atoi(strings.TrimPrefix(id, "E"))
	return v
}

// find returns the position of the user with the given id, or -1.
func (d *Dataset) find(id string) int {
	want := idNum(id)
	i, ok := slices.BinarySearchFunc(d.Users, want, func(u map[string]any, t int) int {
		return cmp.Compare(idNum(u["id"].(string)), t)
	})
	if !ok {
		return -1
	}
	return i
}

// newUser makes a user; it returns the user and its region index. manager is the boxed id
// of the manager (nil for none), hired a day number since 2008-01-01. Values that repeat
// between users (names, departments, titles, dates, the manager's id) share one boxed
// interface value, which keeps a million users at about 1.2 KB each.
func (d *Dataset) newUser(rng *rand.Rand, num, dept int, title string, manager any, leaf bool, hired int) (map[string]any, uint8) {
	gi := rng.IntN(len(givenNames))
	si := rng.IntN(len(surnames))
	base := asciiGiven[gi] + "." + asciiSurnames[si]
	k := d.nameUse[base]
	d.nameUse[base] = k + 1
	local := base
	if k > 0 {
		local = base + strconv.Itoa(k+1)
	}
	var upn any = local + "@" + Domain
	ci := pickCountry(rng)
	dp := departments[dept]
	empType := "Employee"
	if leaf && dept != internsDept && rng.IntN(1000) < contractorPerMille {
		empType = "Contractor"
	}
	d.ensureBoxes()
	dn := &d.box.display[gi*len(surnames)+si]
	if *dn == nil {
		*dn = givenNames[gi] + " " + surnames[si]
	}
	date := d.box.dates[hired]
	if date == nil {
		date = epoch.AddDate(0, 0, hired).Format(time.DateOnly)
		d.box.dates[hired] = date
	}
	u := make(map[string]any, 16)
	u["id"] = d.id(num)
	u["userName"] = upn
	u["givenName"] = boxedGiven[gi]
	u["surname"] = boxedSurnames[si]
	u["displayName"] = *dn
	u["mail"] = upn
	u["department"] = d.intern(dp.Name)
	u["jobTitle"] = d.intern(title)
	u["employeeType"] = d.intern(empType)
	if manager != nil {
		u["manager"] = manager
	}
	u["costCenter"] = d.box.costCenters[dept][rng.IntN(4)]
	u["country"] = d.intern(countries[ci].Code)
	u["accountEnabled"] = manager == nil || rng.IntN(1000) >= disabledPerMille
	u["hireDate"] = date
	u["employeeNumber"] = strconv.Itoa(100000 + num)
	return u, uint8(slices.Index(regions, countries[ci].Region))
}

// boxes caches interface values shared between users.
type boxes struct {
	strs        map[string]any
	display     []any // by given × surname index
	dates       map[int]any
	costCenters [][]any // by department, 4 each
}

func (d *Dataset) ensureBoxes() {
	if d.box != nil {
		return
	}
	b := &boxes{strs: map[string]any{}, display: make([]any, len(givenNames)*len(surnames)), dates: map[int]any{}}
	for _, dp := range departments {
		var cc []any
		for i := 1; i <= 4; i++ {
			cc = append(cc, fmt.Sprintf("CC-%s-%02d", dp.Code, i))
		}
		b.costCenters = append(b.costCenters, cc)
	}
	d.box = b
}

func (d *Dataset) intern(s string) any {
	d.ensureBoxes()
	if v, ok := d.box.strs[s]; ok {
		return v
	}
	var v any = s
	d.box.strs[s] = v
	return v
}

var (
	asciiGiven, asciiSurnames []string
	boxedGiven, boxedSurnames []any
)

func init() {
	for _, n := range givenNames {
		asciiGiven = append(asciiGiven, asciiName(n))
		boxedGiven = append(boxedGiven, n)
	}
	for _, n := range surnames {
		asciiSurnames = append(asciiSurnames, asciiName(n))
		boxedSurnames = append(boxedSurnames, n)
	}
}

// breakNames makes u a record without names (mapping → MandatoryFieldsMissing).
func breakNames(u map[string]any) {
	u["givenName"] = ""
	u["surname"] = ""
	delete(u, "displayName")
	upn := strings.ToLower(u["id"].(string)) + "@" + Domain
	u["userName"] = upn
	u["mail"] = upn
}

// breakMail gives u an invalid mail ("first.last@@contoso.example").
func breakMail(u map[string]any) {
	u["mail"] = strings.Replace(u["mail"].(string), "@", "@@", 1)
}

var epoch = time.Date(2008, 1, 1, 0, 0, 0, 0, time.UTC)

// hireDay is a day number between 2008 and 2025; earlier for the first (senior) users.
func hireDay(rng *rand.Rand, c int) int {
	days := 18 * 365
	if c < 100 {
		days = 5 * 365
	}
	return rng.IntN(days)
}

func deptIndex(name string) int8 {
	for i, d := range departments {
		if d.Name == name {
			return int8(i)
		}
	}
	panic("hrgen: unknown department " + name)
}

// pickDept picks a department by weight (Interns only if interns).
func pickDept(rng *rand.Rand, interns bool) int {
	total := 100
	if !interns {
		total -= departments[internsDept].Weight
	}
	r := rng.IntN(total)
	for i, d := range departments {
		if i == internsDept && !interns {
			continue
		}
		if r < d.Weight {
			return i
		}
		r -= d.Weight
	}
	return 0
}

func pickCountry(rng *rand.Rand) int {
	total := 0
	for _, c := range countries {
		total += c.Weight
	}
	r := rng.IntN(total)
	for i, c := range countries {
		if r < c.Weight {
			return i
		}
		r -= c.Weight
	}
	return 0
}

// sample picks up to size distinct elements of from (those for which keep holds).
func sample(rng *rand.Rand, from []int32, size int, keep func(int32) bool) []int32 {
	if len(from) == 0 || size <= 0 {
		return nil
	}
	if keep == nil && size >= len(from) {
		return slices.Clone(from)
	}
	seen := make(map[int32]bool, size)
	out := make([]int32, 0, size)
	for tries := 0; len(out) < size && tries < 20*size; tries++ {
		c := from[rng.IntN(len(from))]
		if seen[c] || (keep != nil && !keep(c)) {
			continue
		}
		seen[c] = true
		out = append(out, c)
	}
	return out
}

type groupKind int

const (
	gDept groupKind = iota
	gRegion
	gManagers
	gContractors
	gProject
)

type groupSpec struct {
	kind        groupKind
	dept        int
	region      int
	name        string
	description string
}

// groupSpecs names n groups: departments, regional teams, managers, contractors, then
// project groups. Names are unique.
func groupSpecs(n int) []groupSpec {
	var gs []groupSpec
	add := func(g groupSpec) bool {
		if len(gs) >= n {
			return false
		}
		gs = append(gs, g)
		return true
	}
	for i, d := range departments {
		add(groupSpec{kind: gDept, dept: i, name: d.Name, description: "Members of the " + d.Name + " department"})
	}
	for _, dn := range []string{"Engineering", "Sales", "Support", "Marketing", "Operations", "Finance"} {
		for r, rn := range regions {
			add(groupSpec{kind: gRegion, dept: int(deptIndex(dn)), region: r, name: dn + " " + rn, description: dn + " staff in " + rn})
		}
	}
	add(groupSpec{kind: gManagers, name: "People Managers", description: "Managers with direct reports"})
	add(groupSpec{kind: gContractors, name: "Contractors", description: "External contractors"})
	for k := 1; len(gs) < n; k++ {
		for _, c := range codenames {
			name := "Project " + c
			if k > 1 {
				name += " " + strconv.Itoa(k)
			}
			if !add(groupSpec{kind: gProject, name: name, description: "Project " + c + " team"}) {
				break
			}
		}
	}
	return gs
}
