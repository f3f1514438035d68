package mapping

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// diacriticGroups maps precomposed Latin letters to their plain equivalents. It covers
// Latin-1 Supplement, Latin Extended-A/B and Latin Extended Additional: each letter whose
// Unicode canonical decomposition is an ASCII letter plus combining marks maps to that
// letter, plus the letters Entra's NormalizeDiacritics table lists that do not decompose
// (ß → ss, æ → ae, ø → oe, œ → oe, ł → l, …). Combining marks that follow a letter (as in
// "ā́" or "a̱") are dropped separately.
var diacriticGroups = []struct{ from, to string }{
	{"ÀÁÂÃÄÅĀĂĄǍǞǠǺȀȂȦḀẠẢẤẦẨẪẬẮẰẲẴẶ", "A"},
	{"àáâãäåāăąǎǟǡǻȁȃȧḁạảấầẩẫậắằẳẵặ", "a"},
	{"ÆǢǼ", "AE"},
	{"æǣǽ", "ae"},
	{"ḂḄḆ", "B"},
	{"ƀḃḅḇ", "b"},
	{"ÇĆĈĊČḈ", "C"},
	{"çćĉċčḉ", "c"},
	{"ĎĐḊḌḎḐḒ", "D"},
	{"ďđḋḍḏḑḓ", "d"},
	{"ÈÉÊËĒĔĖĘĚȄȆȨḔḖḘḚḜẸẺẼẾỀỂỄỆ", "E"},
	{"èéêëēĕėęěȅȇȩḕḗḙḛḝẹẻẽếềểễệ", "e"},
	{"Ḟ", "F"},
	{"ḟ", "f"},
	{"ĜĞĠĢǤǦǴḠ", "G"},
	{"ĝğġģǥǧǵḡ", "g"},
	{"ĤĦȞḢḤḦḨḪ", "H"},
	{"ĥħȟḣḥḧḩḫẖ", "h"},
	{"ÌÍÎÏĨĪĬĮİƗǏȈȊḬḮỈỊ", "I"},
	{"ìíîïĩīĭįıǐȉȋɨḭḯỉị", "i"},
	{"Ĳ", "IJ"},
	{"ĳ", "ij"},
	{"Ĵ", "J"},
	{"ĵǰ", "j"},
	{"ĶǨḰḲḴ", "K"},
	{"ķǩḱḳḵ", "k"},
	{"ĹĻĽĿŁḶḸḺḼ", "L"},
	{"ĺļľŀłƚḷḹḻḽ", "l"},
	{"ḾṀṂ", "M"},
	{"ḿṁṃ", "m"},
	{"ÑŃŅŇǸṄṆṈṊ", "N"},
	{"ñńņňǹṅṇṉṋ", "n"},
	{"ÒÓÔÕÖŌŎŐƠǑǪǬȌȎȪȬȮȰṌṎṐṒỌỎỐỒỔỖỘỚỜỞỠỢ", "O"},
	{"òóôõöōŏőơǒǫǭȍȏȫȭȯȱṍṏṑṓọỏốồổỗộớờởỡợ", "o"},
	{"ØŒǾ", "OE"},
	{"øœǿ", "oe"},
	{"ṔṖ", "P"},
	{"ṕṗ", "p"},
	{"ŔŖŘȐȒṘṚṜṞ", "R"},
	{"ŕŗřȑȓṙṛṝṟ", "r"},
	{"ŚŜŞŠȘṠṢṤṦṨ", "S"},
	{"śŝşšſșṡṣṥṧṩẛ", "s"},
	{"ß", "ss"},
	{"ŢŤŦȚṪṬṮṰ", "T"},
	{"ţťŧțṫṭṯṱẗ", "t"},
	{"ÙÚÛÜŨŪŬŮŰŲƯǓǕǗǙǛȔȖṲṴṶṸṺỤỦỨỪỬỮỰ", "U"},
	{"ùúûüũūŭůűųưǔǖǘǚǜȕȗṳṵṷṹṻụủứừửữự", "u"},
	{"ṼṾ", "V"},
	{"ṽṿ", "v"},
	{"ŴẀẂẄẆẈ", "W"},
	{"ŵẁẃẅẇẉẘ", "w"},
	{"ẊẌ", "X"},
	{"ẋẍ", "x"},
	{"ÝŶŸȲẎỲỴỶỸ", "Y"},
	{"ýÿŷȳẏẙỳỵỷỹ", "y"},
	{"ŹŻŽƵẐẒẔ", "Z"},
	{"źżžƶẑẓẕ", "z"},
}

var diacritics = func() map[rune]string {
	m := make(map[rune]string, 600)
	for _, g := range diacriticGroups {
		for _, r := range g.from {
			m[r] = g.to
		}
	}
	return m
}()

// normalizeDiacritics replaces letters with diacritics by their plain equivalents
// ("Zoë" → "Zoe", "ß" → "ss") and drops combining marks. changed reports whether anything
// was replaced.
func normalizeDiacritics(s string) (string, bool) {
	i := 0
	for i < len(s) && s[i] < utf8.RuneSelf {
		i++
	}
	if i == len(s) {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	changed := false
	for _, r := range s[i:] {
		if r < utf8.RuneSelf {
			b.WriteRune(r)
			continue
		}
		if to, ok := diacritics[r]; ok {
			b.WriteString(to)
			changed = true
			continue
		}
		if unicode.Is(unicode.Mn, r) {
			changed = true
			continue
		}
		b.WriteRune(r)
	}
	if !changed {
		return s, false
	}
	return b.String(), true
}
