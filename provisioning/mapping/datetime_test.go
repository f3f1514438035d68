package mapping

import (
	"strings"
	"testing"
	"time"
)

func TestDateFormatEdges(t *testing.T) {
	fixNow(t, time.Date(2030, 6, 7, 8, 9, 10, 0, time.UTC))
	runEvalCases(t, []evalCase{
		{name: "single custom specifier with %", expr: `FormatDateTime("2024-03-05", , "yyyy-MM-dd", "%d")`, want: "5"},
		{name: "era", expr: `FormatDateTime("2024-03-05", , "yyyy-MM-dd", "yyyy g")`, want: "2024 A.D."},
		{name: "RFC 1123 converts to UTC", expr: `FormatDateTime("2024-03-05T01:00:00+02:00", , "yyyy-MM-ddTHH:mm:ssK", "r")`, want: "Mon, 04 Mar 2024 23:00:00 GMT"},
		{name: "parse RFC 1123", expr: `FormatDateTime("Mon, 04 Mar 2024 23:00:00 GMT", , "r", "o")`, want: "2024-03-04T23:00:00.0000000Z"},
		{name: "parse u", expr: `FormatDateTime("2024-03-04 23:00:00Z", , "u", "yyyy-MM-ddTHH:mmK")`, want: "2024-03-04T23:00Z"},
		{name: "time only uses the current date", expr: `FormatDateTime("13:45", , "HH:mm", "yyyy-MM-dd HH:mm")`, want: "2030-06-07 13:45"},
		{name: "NoCurrentDateDefault", expr: `FormatDateTime("13:45", "NoCurrentDateDefault", "HH:mm", "yyyy-MM-dd HH:mm")`, want: "0001-01-01 13:45"},
		{name: "missing year uses the current year", expr: `FormatDateTime("03-05", , "MM-dd", "yyyy-MM-dd")`, want: "2030-03-05"},
		{name: "AssumeLocal is offset zero", expr: `FormatDateTime("2024-03-05 10:00", "AssumeLocal", "yyyy-MM-dd HH:mm", "HH:mmK")`, want: "10:00+00:00"},
		{name: "offset without RoundtripKind becomes local", expr: `FormatDateTime("2024-03-05T10:00:00-05:00", "AllowWhiteSpaces", "yyyy-MM-ddTHH:mm:sszzz", "HH:mmK")`, want: "15:00+00:00"},
		{name: "zzz accepts hhmm", expr: `FormatDateTime("2024-03-05T10:00:00-0530", , "yyyy-MM-ddTHH:mm:sszzz", "HH:mm zzz")`, want: "10:00 -05:30"},
		{name: "hour 12 AM is midnight", expr: `FormatDateTime("12:30 AM", "NoCurrentDateDefault", "hh:mm tt", "HH:mm")`, want: "00:30"},
		{name: "hour 12 PM is noon", expr: `FormatDateTime("12:30 PM", "NoCurrentDateDefault", "hh:mm tt", "HH:mm")`, want: "12:30"},
		{name: "h out of range", expr: `FormatDateTime("13:30 PM", , "hh:mm tt", "HH:mm")`, err: "expected an hour at position 1"},
		{name: "24-hour with contradicting designator", expr: `FormatDateTime("09:30 PM", , "HH:mm tt", "HH:mm")`, err: "hour 9 contradicts the AM/PM designator"},
		{name: "month out of range", expr: `FormatDateTime("2024-13-01", , "yyyy-MM-dd", "yyyy")`, err: "expected a month (1-12) at position 6"},
		{name: "trailing input", expr: `FormatDateTime("2024-03-05x", , "yyyy-MM-dd", "yyyy")`, err: `unexpected "x" at position 11`},
		{name: "unterminated quote", expr: `FormatDateTime("x", , "yyyy'", "yyyy")`, err: "unterminated quoted literal"},
		{name: "trailing backslash", expr: `FormatDateTime("x", , "yyyy\\", "yyyy")`, err: "trailing backslash"},
		{name: "trailing percent", expr: `FormatDateTime("x", , "yyyy%", "yyyy")`, err: "% must be followed by a format specifier"},
		{name: "lone percent", expr: `FormatDateTime("x", , "%", "yyyy")`, err: `"%" is not a standard date format`},
	})
}

func TestParseStyles(t *testing.T) {
	for in, want := range map[string]dtStyles{
		"":                                     defaultStyles,
		"None":                                 0,
		"AdjustToUniversal, AssumeUniversal":   styleAdjustToUniversal | styleAssumeUniversal,
		"DateTimeStyles.AllowWhiteSpaces":      styleAllowLeadingWhite | styleAllowTrailingWhite | styleAllowInnerWhite,
		"allowleadingwhite|allowtrailingwhite": styleAllowLeadingWhite | styleAllowTrailingWhite,
		"RoundtripKind + NoCurrentDateDefault": styleRoundtripKind | styleNoCurrentDateDefault,
	} {
		got, err := parseStyles(in)
		if err != nil || got != want {
			t.Errorf("parseStyles(%q) = %b, %v; want %b", in, got, err, want)
		}
	}
	for _, bad := range []string{"AssumeLocal, AssumeUniversal", "RoundtripKind, AdjustToUniversal", "Fast"} {
		if _, err := parseStyles(bad); err == nil {
			t.Errorf("parseStyles(%q) succeeded", bad)
		}
	}
}

func TestFileTimeConversions(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1600, 12, 31, 23, 59, 59, 999999900, time.UTC),
		time.Date(2012, 1, 1, 23, 0, 0, 0, time.UTC),
		time.Date(2099, 12, 31, 23, 59, 59, 123456700, time.UTC),
	} {
		if got := fromFileTime(toFileTime(tm)); !got.Equal(tm) {
			t.Errorf("round trip %v → %d → %v", tm, toFileTime(tm), got)
		}
	}
	if n := toFileTime(time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC)); n != 0 {
		t.Fatalf("epoch = %d", n)
	}
}

func TestDefaultDateFormat(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2021, 7, 2, 15, 33, 38, 0, time.UTC), "7/2/2021 3:33:38 PM"},
		{time.Date(2021, 12, 25, 0, 5, 9, 0, time.UTC), "12/25/2021 12:05:09 AM"},
		{time.Date(2021, 12, 25, 12, 0, 0, 0, time.UTC), "12/25/2021 12:00:00 PM"},
		{time.Date(2021, 12, 25, 1, 0, 0, 0, time.FixedZone("", 3600)), "12/25/2021 12:00:00 AM"},
	} {
		if got := formatDefaultDate(tc.t); got != tc.want {
			t.Errorf("formatDefaultDate(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
	if !strings.HasPrefix(DefaultDateFormat, "M/d/yyyy") {
		t.Fatal(DefaultDateFormat)
	}
}
