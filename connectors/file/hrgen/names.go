package hrgen

import "strings"

// Name pools. A few names carry diacritics so that userName derivation (diacritic removal)
// and non-ASCII display names are exercised.
var givenNames = []string{
	"James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William",
	"Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
	"Charles", "Karen", "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark",
	"Margaret", "Donald", "Sandra", "Steven", "Ashley", "Paul", "Kimberly", "Andrew", "Emily",
	"Joshua", "Donna", "Kenneth", "Michelle", "Kevin", "Carol", "Brian", "Amanda", "George",
	"Melissa", "Timothy", "Deborah", "Ronald", "Stephanie", "Jason", "Rebecca", "Edward", "Laura",
	"Jeffrey", "Sharon", "Ryan", "Cynthia", "Jacob", "Kathleen", "Gary", "Amy", "Nicholas",
	"Angela", "Eric", "Shirley", "Jonathan", "Anna", "Stephen", "Brenda", "Larry", "Pamela",
	"Justin", "Emma", "Scott", "Nicole", "Brandon", "Helen", "Benjamin", "Samantha", "Samuel",
	"Katherine", "Gregory", "Christine", "Alexander", "Debra", "Patrick", "Rachel", "Frank",
	"Carolyn", "Raymond", "Janet", "Jack", "Maria", "Dennis", "Olivia", "Jerry", "Heather",
	"Tyler", "Diane", "Aaron", "Julie", "Priya", "Arjun", "Wei", "Mei", "Hiroshi", "Yuki",
	"Ahmed", "Fatima", "Olga", "Ivan", "Sven", "Ingrid", "Lars", "Astrid", "Pieter", "Anouk",
	"Giulia", "Marco", "Lucía", "Matías", "Zoë", "José", "Łukasz", "Agnieszka", "Renée",
	"Chloé", "Søren", "Björn", "François", "Jürgen", "Ana", "Tomás", "Zoltán", "Ángel",
	"Noémie", "Håkon", "Dagný", "Çağla", "Ötzi", "Oğuz", "Małgorzata", "Miloš", "Jiří",
}

var surnames = []string{
	"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
	"Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
	"Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
	"Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
	"Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
	"Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans",
	"Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris",
	"Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson",
	"Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson",
	"Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes",
	"Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster",
	"Jimenez", "Sharma", "Gupta", "Chen", "Wang", "Tanaka", "Suzuki", "Sato", "Khan", "Ali",
	"Ivanova", "Petrov", "Larsen", "Johansson", "de Vries", "Jansen", "Rossi", "Bianchi",
	"O'Brien", "McDonald", "Müller", "Schäfer", "Weiß", "Łukasiewicz", "Kowalczyk", "Dvořák",
	"Novák", "Němec", "García", "Núñez", "Peña", "Fernández", "Østergaard", "Sørensen",
	"Åberg", "Öztürk", "Çelik", "Şahin", "Kovač", "Horváth", "Lefèvre", "Benoît", "Gauß",
	"Þórsdóttir", "Ødegård", "Nuñez-López", "Van der Berg",
}

// asciiFold maps the non-ASCII letters used in the pools (and their relatives) to ASCII.
var asciiFold = map[rune]string{
	'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'ä': "a", 'å': "a", 'ā': "a", 'ă': "a", 'ą': "a",
	'æ': "ae", 'ç': "c", 'ć': "c", 'č': "c", 'ď': "d", 'đ': "d", 'ð': "d",
	'è': "e", 'é': "e", 'ê': "e", 'ë': "e", 'ē': "e", 'ė': "e", 'ę': "e", 'ě': "e",
	'ğ': "g", 'ì': "i", 'í': "i", 'î': "i", 'ï': "i", 'ı': "i", 'ī': "i", 'į': "i",
	'ł': "l", 'ľ': "l", 'ĺ': "l", 'ñ': "n", 'ń': "n", 'ň': "n",
	'ò': "o", 'ó': "o", 'ô': "o", 'õ': "o", 'ö': "o", 'ø': "o", 'ō': "o", 'ő': "o", 'œ': "oe",
	'ř': "r", 'ŕ': "r", 'ß': "ss", 'ś': "s", 'š': "s", 'ş': "s", 'ș': "s",
	'ť': "t", 'ţ': "t", 'ț': "t", 'þ': "th",
	'ù': "u", 'ú': "u", 'û': "u", 'ü': "u", 'ū': "u", 'ů': "u", 'ű': "u", 'ų': "u",
	'ý': "y", 'ÿ': "y", 'ź': "z", 'ż': "z", 'ž': "z",
}

// asciiName lowercases s, folds diacritics to ASCII and drops everything that is not a
// letter or digit ("O'Brien" → "obrien", "Müller" → "muller", "Łukasz" → "lukasz").
func asciiName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r < 0x80:
			// punctuation and spaces are dropped
		default:
			b.WriteString(asciiFold[r]) // unknown letters are dropped
		}
	}
	return b.String()
}

// Departments and how many users each gets (weights sum to 100).
var departments = []struct {
	Name   string
	Code   string
	Weight int
	Titles []string
}{
	{"Engineering", "ENG", 33, []string{"Software Engineer", "Senior Software Engineer", "Staff Engineer", "QA Engineer", "DevOps Engineer", "Data Scientist", "Site Reliability Engineer"}},
	{"Sales", "SAL", 19, []string{"Account Executive", "Sales Development Representative", "Account Manager", "Sales Engineer"}},
	{"Marketing", "MKT", 8, []string{"Marketing Specialist", "Content Writer", "Product Marketing Manager", "Designer"}},
	{"Finance", "FIN", 6, []string{"Accountant", "Financial Analyst", "Controller", "Payroll Specialist"}},
	{"HR", "HRM", 4, []string{"HR Generalist", "Recruiter", "HR Business Partner"}},
	{"Support", "SUP", 15, []string{"Support Engineer", "Customer Success Manager", "Technical Writer"}},
	{"Legal", "LEG", 3, []string{"Counsel", "Paralegal", "Compliance Analyst"}},
	{"Operations", "OPS", 9, []string{"Operations Analyst", "Facilities Coordinator", "IT Administrator", "Procurement Specialist"}},
	{"Interns", "INT", 3, []string{"Intern"}},
}

const internsDept = 8 // index of "Interns" in departments

// Countries and their weights, with the region used for regional groups.
var countries = []struct {
	Code   string
	Region string
	Weight int
}{
	{"US", "Americas", 30}, {"CA", "Americas", 5}, {"BR", "Americas", 4}, {"GB", "EMEA", 10},
	{"DE", "EMEA", 9}, {"FR", "EMEA", 6}, {"NL", "EMEA", 3}, {"PL", "EMEA", 5}, {"ES", "EMEA", 4},
	{"SE", "EMEA", 3}, {"IN", "APAC", 12}, {"JP", "APAC", 5}, {"AU", "APAC", 4},
}

var regions = []string{"Americas", "EMEA", "APAC"}

// Project code names for project groups.
var codenames = []string{
	"Apollo", "Borealis", "Cobalt", "Delta", "Ember", "Falcon", "Granite", "Helios", "Indigo",
	"Juniper", "Kestrel", "Lumen", "Meridian", "Nimbus", "Obsidian", "Polaris", "Quasar",
	"Redwood", "Sierra", "Tundra", "Umbra", "Vertex", "Willow", "Xenon", "Yonder", "Zephyr",
}
