package mapping

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
)

// fixNow pins the clock for Now() and date defaults.
func fixNow(t *testing.T, at time.Time) {
	t.Helper()
	old := now
	now = func() time.Time { return at }
	t.Cleanup(func() { now = old })
}

type evalCase struct {
	name string
	expr string
	src  connectors.Attributes
	want any
	// err, when set, is a substring of the expected (compile or evaluation) error.
	err string
}

func runEvalCases(t *testing.T, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		name := tc.name
		if name == "" {
			name = tc.expr
		}
		t.Run(name, func(t *testing.T) {
			e, err := ParseExpression(tc.expr)
			var got any
			if err == nil {
				got, err = e.Eval(context.Background(), tc.src, nil)
			}
			if tc.err != "" {
				if err == nil {
					t.Fatalf("%s: got %#v, want error containing %q", tc.expr, got, tc.err)
				}
				if !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("%s: error %q does not contain %q", tc.expr, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: unexpected error: %v", tc.expr, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("%s: got %#v (%T), want %#v (%T)", tc.expr, got, got, tc.want, tc.want)
			}
		})
	}
}

type attrs = connectors.Attributes

func TestAppend(t *testing.T) {
	runEvalCases(t, []evalCase{
		{expr: `Append([userPrincipalName], ".test")`, src: attrs{"userPrincipalName": "John.Doe@contoso.com"}, want: "John.Doe@contoso.com.test"},
		{name: "null source", expr: `Append([userPrincipalName], ".test")`, want: nil},
		{name: "null suffix", expr: `Append("a", [missing])`, want: "a"},
		{name: "number source", expr: `Append(12, "x")`, want: "12x"},
		{name: "multi-valued source", expr: `Append([p], "x")`, src: attrs{"p": []string{"a", "b"}}, err: "Append argument 1: value is multi-valued (2 values)"},
		{name: "single-element multi-valued", expr: `Append([p], "x")`, src: attrs{"p": []string{"a"}}, want: "ax"},
		{name: "arity", expr: `Append([a])`, err: "col 1: Append takes 2 arguments, got 1"},
	})
}

func TestBitAnd(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "docs", expr: `BitAnd(&HF, &HF7)`, want: int64(7)},
		{expr: `BitAnd([uac], 2)`, src: attrs{"uac": int64(514)}, want: int64(2)},
		{expr: `BitAnd([uac], 2)`, src: attrs{"uac": "512"}, want: int64(0)},
		{name: "null", expr: `BitAnd([uac], 2)`, want: nil},
		{name: "literal not integer", expr: `BitAnd("abc", 1)`, err: `col 8: BitAnd argument 1: must be an integer, got "abc"`},
		{name: "value not integer", expr: `BitAnd([uac], 1)`, src: attrs{"uac": "x"}, err: `BitAnd argument 1: "x" is not an integer`},
	})
}

func TestCBool(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "docs equal", expr: `CBool([attribute1] = [attribute2])`, src: attrs{"attribute1": "a", "attribute2": "a"}, want: true},
		{name: "docs different", expr: `CBool([attribute1] = [attribute2])`, src: attrs{"attribute1": "a", "attribute2": "b"}, want: false},
		{expr: `CBool(1)`, want: true},
		{expr: `CBool(0)`, want: false},
		{expr: `CBool(-2.5)`, want: true},
		{expr: `CBool("TRUE")`, want: true},
		{expr: `CBool("false")`, want: false},
		{expr: `CBool("0")`, want: false},
		{name: "null is false", expr: `CBool([missing])`, want: false},
		{expr: `CBool("maybe")`, err: `CBool argument 1: cannot convert "maybe" to a Boolean`},
	})
}

func TestCDate(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "docs 1", expr: `CDate([StatusHireDate])`, src: attrs{"StatusHireDate": "2020-03-16-07:00"}, want: "3/16/2020 7:00:00 AM"},
		{name: "docs 2", expr: `CDate("2021-06-30+08:00")`, want: "6/29/2021 4:00:00 PM"},
		{name: "docs 3", expr: `CDate("2009-06-15T01:45:30-07:00")`, want: "6/15/2009 8:45:30 AM"},
		{expr: `CDate("2024-02-29T23:59:59.1234567Z")`, want: "2/29/2024 11:59:59 PM"},
		{expr: `CDate("8/25/2021 5:41:18 PM")`, want: "8/25/2021 5:41:18 PM"},
		{expr: `CDate("2021-08-24")`, want: "8/24/2021 12:00:00 AM"},
		{expr: `CDate("20150123105347.1Z")`, want: "1/23/2015 10:53:47 AM"},
		{name: "null", expr: `CDate([missing])`, want: nil},
		{name: "empty", expr: `CDate("")`, want: nil},
		{name: "invalid", expr: `CDate("next tuesday")`, err: `CDate argument 1: "next tuesday" is not a recognised date/time`},
		{name: "invalid day", expr: `CDate("2023-02-29")`, err: "is not a recognised date/time"},
	})
}

func TestCoalesce(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "docs", expr: `Coalesce([mail],[userPrincipalName])`, src: attrs{"userPrincipalName": "John.Doe@contoso.com"}, want: "John.Doe@contoso.com"},
		{name: "first wins", expr: `Coalesce([mail],[userPrincipalName])`, src: attrs{"mail": "m@x", "userPrincipalName": "u@x"}, want: "m@x"},
		{name: "default", expr: `Coalesce([a], [b], "default")`, want: "default"},
		{name: "empty string is not null", expr: `Coalesce([a], "x")`, src: attrs{"a": ""}, want: ""},
		{name: "all null", expr: `Coalesce([a], [b])`, want: nil},
		{name: "empty multi-valued is null", expr: `Coalesce([a], "d")`, src: attrs{"a": []string{}}, want: "d"},
	})
}

func TestConversions(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "base64 docs", expr: `ConvertToBase64("Hello world!")`, want: "SABlAGwAbABvACAAdwBvAHIAbABkACEA"},
		{name: "base64 non-ASCII", expr: `ConvertToBase64("é")`, want: "6QA="},
		{name: "base64 null", expr: `ConvertToBase64([x])`, want: nil},
		{name: "hex docs", expr: `ConvertToUTF8Hex("Hello world!")`, want: "48656C6C6F20776F726C6421"},
		{name: "hex non-ASCII", expr: `ConvertToUTF8Hex("é")`, want: "C3A9"},
		{name: "hex null", expr: `ConvertToUTF8Hex([x])`, want: nil},
		{name: "count multi", expr: `Count([p])`, src: attrs{"p": []string{"a", "b", "c"}}, want: int64(3)},
		{name: "count any", expr: `Count([p])`, src: attrs{"p": []any{"a", int64(1)}}, want: int64(2)},
		{name: "count single", expr: `Count([p])`, src: attrs{"p": "a"}, want: int64(1)},
		{name: "count null", expr: `Count([p])`, want: int64(0)},
		{name: "cstr docs", expr: `CStr([dn])`, src: attrs{"dn": "cn=Joe,dc=contoso,dc=com"}, want: "cn=Joe,dc=contoso,dc=com"},
		{expr: `CStr(True)`, want: "True"},
		{expr: `CStr([n])`, src: attrs{"n": int64(42)}, want: "42"},
		{expr: `CStr([n])`, src: attrs{"n": 1.5}, want: "1.5"},
		{expr: `CStr([n])`, src: attrs{"n": float64(3)}, want: "3"},
		{name: "cstr null", expr: `CStr([n])`, want: nil},
		{name: "cstr multi", expr: `CStr([n])`, src: attrs{"n": []string{"a", "b"}}, err: "multi-valued"},
		{name: "cstr object", expr: `CStr([n])`, src: attrs{"n": map[string]any{"a": 1}}, err: "value is an object"},
		{name: "IsString string", expr: `IsString([a])`, src: attrs{"a": "x"}, want: true},
		{name: "IsString number", expr: `IsString([a])`, src: attrs{"a": int64(1)}, want: false},
		{name: "IsString null", expr: `IsString([a])`, want: false},
	})
}

func TestDateAdd(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "docs +7d", expr: `DateAdd("d", 7, CDate([StatusHireDate]))`, src: attrs{"StatusHireDate": "2012-03-16-07:00"}, want: "3/23/2012 7:00:00 AM"},
		{name: "docs -10d", expr: `DateAdd("d", -10, CDate("2012-03-16-07:00"))`, want: "3/6/2012 7:00:00 AM"},
		{name: "docs 2 weeks", expr: `DateAdd("ww", 2, CDate("2012-03-16-07:00"))`, want: "3/30/2012 7:00:00 AM"},
		{name: "docs 10 months", expr: `DateAdd("m", 10, CDate("2012-03-16-07:00"))`, want: "1/16/2013 7:00:00 AM"},
		{name: "docs 2 years", expr: `DateAdd("yyyy", 2, CDate("2012-03-16-07:00"))`, want: "3/16/2014 7:00:00 AM"},
		{name: "month end clamps", expr: `DateAdd("m", 1, "2021-01-31")`, want: "2/28/2021 12:00:00 AM"},
		{name: "leap day + 1 year", expr: `DateAdd("yyyy", 1, "2024-02-29")`, want: "2/28/2025 12:00:00 AM"},
		{name: "negative months across year", expr: `DateAdd("m", -14, "2021-01-15")`, want: "11/15/2019 12:00:00 AM"},
		{name: "quarter", expr: `DateAdd("q", 1, "2021-01-15")`, want: "4/15/2021 12:00:00 AM"},
		{name: "hours", expr: `DateAdd("h", 1, "2021-01-01T23:30:00Z")`, want: "1/2/2021 12:30:00 AM"},
		{name: "minutes", expr: `DateAdd("n", 90, "2021-01-01T00:00:00Z")`, want: "1/1/2021 1:30:00 AM"},
		{name: "seconds", expr: `DateAdd("s", -1, "2021-01-01T00:00:00Z")`, want: "12/31/2020 11:59:59 PM"},
		{name: "nested in FormatDateTime", expr: `FormatDateTime(DateAdd("d", 1, "2021-12-31"), , "yyyy-MM-dd", "yyyy-MM-dd")`, want: "2022-01-01"},
		{name: "null date", expr: `DateAdd("d", 1, [missing])`, want: nil},
		{name: "null value", expr: `DateAdd("d", [missing], "2021-01-01")`, want: nil},
		{name: "bad interval", expr: `DateAdd("x", 1, "2021-01-01")`, err: `col 9: DateAdd argument 1: unknown interval "x"`},
		{name: "bad number", expr: `DateAdd("d", "x", "2021-01-01")`, err: `DateAdd argument 2: must be a number`},
		{name: "bad date", expr: `DateAdd("d", 1, "soon")`, err: `DateAdd argument 3: "soon" is not a recognised date/time`},
	})
}

func TestDateDiff(t *testing.T) {
	// The rows of the Entra documentation's DateDiff table.
	runEvalCases(t, []evalCase{
		{name: "positive days", expr: `DateDiff("d", "2021-08-18+08:00", "2021-08-31+08:00")`, want: int64(13)},
		{name: "negative days", expr: `DateDiff("d", "8/25/2021 5:41:18 PM", "2012-03-16-07:00")`, want: int64(-3449)},
		{name: "weeks", expr: `DateDiff("ww", "8/25/2021 5:41:18 PM", "2012-03-16-07:00")`, want: int64(-493)},
		{name: "months", expr: `DateDiff("m", "8/25/2021 5:41:18 PM", "2012-03-16-07:00")`, want: int64(-113)},
		{name: "years", expr: `DateDiff("yyyy", "8/25/2021 5:41:18 PM", "2012-03-16-07:00")`, want: int64(-9)},
		{name: "same", expr: `DateDiff("d", "2021-08-31+08:00", "2021-08-31+08:00")`, want: int64(0)},
		{name: "hours", expr: `DateDiff("h", "2021-08-24", "2021-08-25")`, want: int64(24)},
		{name: "minutes", expr: `DateDiff("n", "2021-08-24", "2021-08-25")`, want: int64(1440)},
		{name: "seconds", expr: `DateDiff("s", "2021-08-24", "2021-08-25")`, want: int64(86400)},
		{name: "weekday intervals", expr: `DateDiff("w", "2021-08-01", "2021-08-20")`, want: int64(2)},
		{name: "quarters", expr: `DateDiff("q", "2021-03-31", "2021-04-01")`, want: int64(1)},
		{name: "with CDate", expr: `DateDiff("d", CDate("2021-01-01"), CDate("2021-03-01"))`, want: int64(59)},
		{name: "null", expr: `DateDiff("d", [missing], "2021-03-01")`, want: nil},
		{name: "bad interval", expr: `DateDiff("days", "2021-01-01", "2021-03-01")`, err: `DateDiff argument 1: unknown interval "days"`},
	})
}

func TestDateDiffNowInIIF(t *testing.T) {
	fixNow(t, time.Date(2021, 8, 25, 17, 41, 18, 0, time.UTC))
	runEvalCases(t, []evalCase{
		{name: "now", expr: `Now()`, want: "8/25/2021 5:41:18 PM"},
		{name: "docs example 2, hire in 3 days", expr: `Switch([Active], , "1", IIF(DateDiff("d", Now(), CDate([StatusHireDate])) > 5, "False", "True"), "0", "False")`,
			src: attrs{"Active": "1", "StatusHireDate": "2021-08-28-07:00"}, want: "True"},
		{name: "docs example 2, hire in 30 days", expr: `Switch([Active], , "1", IIF(DateDiff("d", Now(), CDate([StatusHireDate])) > 5, "False", "True"), "0", "False")`,
			src: attrs{"Active": "1", "StatusHireDate": "2021-09-25-07:00"}, want: "False"},
		{name: "docs example 2, inactive", expr: `Switch([Active], , "1", IIF(DateDiff("d", Now(), CDate([StatusHireDate])) > 5, "False", "True"), "0", "False")`,
			src: attrs{"Active": "0"}, want: "False"},
		{name: "docs example 2, unknown", expr: `Switch([Active], , "1", "True", "0", "False")`, src: attrs{"Active": "7"}, want: nil},
	})
}

func TestFileTimeDates(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "DateFromNum docs", expr: `DateFromNum(129699324000000000)`, want: "1/1/2012 11:00:00 PM"},
		{name: "DateFromNum attribute", expr: `DateFromNum([lastLogonTimestamp])`, src: attrs{"lastLogonTimestamp": "129699324000000000"}, want: "1/1/2012 11:00:00 PM"},
		{name: "DateFromNum null", expr: `DateFromNum([lastLogonTimestamp])`, want: nil},
		{name: "DateFromNum not a number", expr: `DateFromNum([x])`, src: attrs{"x": "abc"}, err: `DateFromNum argument 1: "abc" is not an integer`},
		{name: "NumFromDate", expr: `NumFromDate("2012-01-01T23:00:00Z")`, want: int64(129699324000000000)},
		{name: "NumFromDate workday docs", expr: `NumFromDate(Join("", FormatDateTime([ContractEndDate], ,"yyyy-MM-ddzzz", "yyyy-MM-dd"), " 23:59:59-08:00"))`,
			src: attrs{"ContractEndDate": "2020-12-31-08:00"}, want: int64(132539615990000000)},
		{name: "NumFromDate successfactors docs", expr: `NumFromDate(Join("",FormatDateTime([endDate], ,"M/d/yyyy hh:mm:ss tt","yyyy-MM-dd")," 23:59:59-08:00"))`,
			src: attrs{"endDate": "12/31/2020 09:00:00 AM"}, want: int64(132539615990000000)},
		{name: "round trip", expr: `NumFromDate(DateFromNum(132539615990000000))`, want: int64(132539615990000000)},
		{name: "NumFromDate null", expr: `NumFromDate([x])`, want: nil},
	})
}

func TestFormatDateTime(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "docs", expr: `FormatDateTime([extensionAttribute1], , "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")`, src: attrs{"extensionAttribute1": "20150123105347.1Z"}, want: "2015-01-23"},
		{name: "three-argument form", expr: `FormatDateTime([d], "yyyy-MM-dd", "M/d/yyyy")`, src: attrs{"d": "2024-03-05"}, want: "3/5/2024"},
		{name: "12-hour output", expr: `FormatDateTime("2024-03-05 13:04:05", , "yyyy-MM-dd HH:mm:ss", "M/d/yyyy h:mm:ss tt")`, want: "3/5/2024 1:04:05 PM"},
		{name: "12-hour input", expr: `FormatDateTime("7/3/2021 12:02:03 AM", , "M/d/yyyy hh:mm:ss tt", "yyyy-MM-ddTHH:mm:ss")`, want: "2021-07-03T00:02:03"},
		{name: "offset round trip", expr: `FormatDateTime("2020-12-31-08:00", , "yyyy-MM-ddzzz", "yyyy-MM-ddTHH:mm:sszzz")`, want: "2020-12-31T00:00:00-08:00"},
		{name: "K keeps Z", expr: `FormatDateTime("2020-12-31T10:00:00Z", , "yyyy-MM-ddTHH:mm:ssK", "HH:mm K")`, want: "10:00 Z"},
		{name: "K unspecified is empty", expr: `FormatDateTime("2020-12-31T10:00:00", , "yyyy-MM-ddTHH:mm:ss", "HH:mmK")`, want: "10:00"},
		{name: "AdjustToUniversal", expr: `FormatDateTime("2020-12-31T20:00:00-08:00", "AdjustToUniversal", "yyyy-MM-ddTHH:mm:sszzz", "yyyy-MM-ddTHH:mm:ssK")`, want: "2021-01-01T04:00:00Z"},
		{name: "AssumeUniversal", expr: `FormatDateTime("2020-12-31 20:00", "DateTimeStyles.AssumeUniversal", "yyyy-MM-dd HH:mm", "o")`, want: "2020-12-31T20:00:00.0000000Z"},
		{name: "no leading white without the style", expr: `FormatDateTime(" 2020-12-31", "None", "yyyy-MM-dd", "yyyy")`, err: "does not match the date format"},
		{name: "leading white by default", expr: `FormatDateTime(" 2020-12-31 ", , "yyyy-MM-dd", "yyyy")`, want: "2020"},
		{name: "inner white", expr: `FormatDateTime("2020-12-31   10:00", "AllowWhiteSpaces", "yyyy-MM-dd HH:mm", "HH:mm")`, want: "10:00"},
		{name: "standard o", expr: `FormatDateTime("2024-03-05T01:02:03.5Z", , "yyyy-MM-ddTHH:mm:ss.FK", "o")`, want: "2024-03-05T01:02:03.5000000Z"},
		{name: "standard u", expr: `FormatDateTime("2024-03-05T01:02:03+02:00", , "yyyy-MM-ddTHH:mm:ssK", "u")`, want: "2024-03-04 23:02:03Z"},
		{name: "standard s", expr: `FormatDateTime("20240305", , "yyyyMMdd", "s")`, want: "2024-03-05T00:00:00"},
		{name: "standard d", expr: `FormatDateTime("20240305", , "yyyyMMdd", "d")`, want: "03/05/2024"},
		{name: "names", expr: `FormatDateTime("20240305", , "yyyyMMdd", "dddd, dd MMMM yyyy (ddd MMM)")`, want: "Tuesday, 05 March 2024 (Tue Mar)"},
		{name: "parse month names", expr: `FormatDateTime("5 march 2024", , "d MMMM yyyy", "yyyy-MM-dd")`, want: "2024-03-05"},
		{name: "parse abbreviated month", expr: `FormatDateTime("05-Mar-24", , "dd-MMM-yy", "yyyy-MM-dd")`, want: "2024-03-05"},
		{name: "two-digit year window", expr: `FormatDateTime("31/12/99", , "dd/MM/yy", "yyyy")`, want: "1999"},
		{name: "quoted and escaped literals", expr: `FormatDateTime("2024-03-05", , "yyyy-MM-dd", "'Year' yyyy \\d\\a\\y d")`, want: "Year 2024 day 5"},
		{name: "F drops zero fraction and point", expr: `FormatDateTime("2024-03-05T01:02:03Z", , "yyyy-MM-ddTHH:mm:ssK", "HH:mm:ss.FFF")`, want: "01:02:03"},
		{name: "F keeps significant digits", expr: `FormatDateTime("2024-03-05T01:02:03.120Z", , "yyyy-MM-ddTHH:mm:ss.fffK", "ss.FFF|ss.ffff")`, want: "03.12|03.1200"},
		{name: "optional fraction on input", expr: `FormatDateTime("2024-03-05T01:02:03Z", , "yyyy-MM-ddTHH:mm:ss.FFFFFFFK", "HH:mm")`, want: "01:02"},
		{name: "z and zz", expr: `FormatDateTime("2024-03-05T01:02:03-07:00", , "yyyy-MM-ddTHH:mm:sszzz", "z|zz|zzz")`, want: "-7|-07|-07:00"},
		{name: "t single", expr: `FormatDateTime("2024-03-05 13:00", , "yyyy-MM-dd HH:mm", "h t")`, want: "1 P"},
		{name: "y and yyy", expr: `FormatDateTime("2009-03-05", , "yyyy-MM-dd", "y|yy|yyy|yyyyy")`, want: "9|09|2009|02009"},
		{name: "DateTime source", expr: `FormatDateTime(CDate("2024-03-05T01:02:03Z"), , "unused", "yyyy-MM-dd HH:mm")`, want: "2024-03-05 01:02"},
		{name: "null source", expr: `FormatDateTime([x], , "yyyy", "yyyy")`, want: nil},
		{name: "empty source", expr: `FormatDateTime([x], , "yyyy", "yyyy")`, src: attrs{"x": ""}, want: nil},
		{name: "input mismatch", expr: `FormatDateTime([x], , "yyyy-MM-dd", "yyyy")`, src: attrs{"x": "2024/03/05"}, err: `FormatDateTime argument 1: "2024/03/05" does not match the date format: expected "-" at position 5`},
		{name: "invalid date", expr: `FormatDateTime("2023-02-29", , "yyyy-MM-dd", "yyyy")`, err: "day 29 is out of range"},
		{name: "too many f", expr: `FormatDateTime([x], , "ffffffff", "yyyy")`, err: "col 23: FormatDateTime argument 3: invalid date format \"ffffffff\": at most 7 f specifiers"},
		{name: "unknown standard format", expr: `FormatDateTime([x], , "yyyy", "Q")`, err: `FormatDateTime argument 4: "Q" is not a standard date format`},
		{name: "unknown style", expr: `FormatDateTime([x], "Sometimes", "yyyy", "yyyy")`, err: `FormatDateTime argument 2: unknown dateTimeStyles value "Sometimes"`},
		{name: "conflicting styles", expr: `FormatDateTime([x], "RoundtripKind, AssumeLocal", "yyyy", "yyyy")`, err: "RoundtripKind cannot be combined"},
		{name: "missing format", expr: `FormatDateTime([x], , , "yyyy")`, err: "FormatDateTime argument 3: a date format is required"},
		{name: "dynamic format", expr: `FormatDateTime([x], , [in], [out])`, src: attrs{"x": "05.03.2024", "in": "dd.MM.yyyy", "out": "yyyy-MM-dd"}, want: "2024-03-05"},
		{name: "dynamic bad format", expr: `FormatDateTime([x], , [in], "yyyy")`, src: attrs{"x": "1", "in": ""}, err: "empty date format"},
	})
}

func TestGuid(t *testing.T) {
	e, err := ParseExpression("Guid()")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[any]bool{}
	for range 50 {
		v, err := e.Eval(context.Background(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if s, _ := v.(string); !re.MatchString(s) {
			t.Fatalf("Guid() = %#v, not a version 4 UUID", v)
		}
		if seen[v] {
			t.Fatalf("Guid() repeated %v", v)
		}
		seen[v] = true
	}
	if _, err := ParseExpression("Guid(1)"); err == nil || !strings.Contains(err.Error(), "Guid takes no arguments, got 1") {
		t.Fatalf("Guid(1): %v", err)
	}
}

func TestIgnoreFlowIfNullOrEmpty(t *testing.T) {
	sw := `IgnoreFlowIfNullOrEmpty(Switch([prefix], "", "3443", "Dr.", "3444", "Prof.", "3445", "Prof. Dr."))`
	runEvalCases(t, []evalCase{
		{name: "null", expr: `IgnoreFlowIfNullOrEmpty([department])`, want: Ignored},
		{name: "empty", expr: `IgnoreFlowIfNullOrEmpty([department])`, src: attrs{"department": ""}, want: Ignored},
		{name: "value", expr: `IgnoreFlowIfNullOrEmpty([department])`, src: attrs{"department": "Sales"}, want: "Sales"},
		{name: "docs switch match", expr: sw, src: attrs{"prefix": "3444"}, want: "Prof."},
		{name: "docs switch no match", expr: sw, src: attrs{"prefix": "9"}, want: Ignored},
		{name: "nested inside Join", expr: `Join(" ", "a", IgnoreFlowIfNullOrEmpty([x]))`, want: Ignored},
		{name: "false is a value", expr: `IgnoreFlowIfNullOrEmpty([x])`, src: attrs{"x": false}, want: false},
	})
	if !IsIgnored(Ignored) || IsIgnored(nil) || IsIgnored("") {
		t.Fatal("IsIgnored")
	}
}

func TestIIFAndComparisons(t *testing.T) {
	docs := `IIF([country]="USA",[country],[department])`
	and := `IIF([country]="USA",IIF([state]="CA","True","False"),"False")`
	or := `IIF([country]="USA","True",IIF([state]="CA","True","False"))`
	runEvalCases(t, []evalCase{
		{name: "docs true", expr: docs, src: attrs{"country": "USA", "department": "Sales"}, want: "USA"},
		{name: "docs false", expr: docs, src: attrs{"country": "NZ", "department": "Sales"}, want: "Sales"},
		{name: "null condition operand is false", expr: docs, src: attrs{"department": "Sales"}, want: "Sales"},
		{name: "case-sensitive", expr: docs, src: attrs{"country": "usa", "department": "Sales"}, want: "Sales"},
		{name: "AND both", expr: and, src: attrs{"country": "USA", "state": "CA"}, want: "True"},
		{name: "AND one", expr: and, src: attrs{"country": "USA", "state": "WA"}, want: "False"},
		{name: "OR second", expr: or, src: attrs{"country": "NZ", "state": "CA"}, want: "True"},
		{name: "OR none", expr: or, src: attrs{"country": "NZ", "state": "WA"}, want: "False"},
		{name: "Boolean condition", expr: `IIF(IsPresent([x]), "yes", "no")`, src: attrs{"x": "1"}, want: "yes"},
		{name: "string condition", expr: `IIF([flag], "yes", "no")`, src: attrs{"flag": "False"}, want: "no"},
		{name: "null condition", expr: `IIF([flag], "yes", "no")`, want: "no"},
		{name: "bad condition", expr: `IIF("abc", 1, 2)`, err: `IIF argument 1: cannot convert "abc" to a Boolean`},
		{name: "lazy branches", expr: `IIF(True, "a", Mid("x", [zero], 1))`, src: attrs{"zero": int64(0)}, want: "a"},
		{name: "taken branch errors", expr: `IIF(False, "a", Mid("x", [zero], 1))`, src: attrs{"zero": int64(0)}, err: "Mid argument 2: start must be at least 1, got 0"},
		{name: "numeric compare of numeric string", expr: `IIF([n] >= 10, "big", "small")`, src: attrs{"n": "9"}, want: "small"},
		{name: "numeric compare int", expr: `IIF([n] >= 10, "big", "small")`, src: attrs{"n": int64(10)}, want: "big"},
		{name: "string ordering", expr: `IIF("b" > "a", 1, 2)`, want: int64(1)},
		{name: "<>", expr: `IIF([a] <> "x", 1, 2)`, src: attrs{"a": "y"}, want: int64(1)},
		{name: "<", expr: `IIF(1 < 2, 1, 2)`, want: int64(1)},
		{name: "<=", expr: `IIF(2 <= 2, 1, 2)`, want: int64(1)},
		{name: "> false", expr: `IIF(2 > 2, 1, 2)`, want: int64(2)},
		{name: "<> with null is false", expr: `IIF([a] <> "x", 1, 2)`, want: int64(2)},
		{name: "dates compare", expr: `IIF(CDate("2021-01-02") > "2021-01-01T12:00:00Z", 1, 2)`, want: int64(1)},
		{name: "bool equals string", expr: `IIF([b] = "True", 1, 2)`, src: attrs{"b": true}, want: int64(1)},
		{name: "comparison as value", expr: `[a] = "x"`, src: attrs{"a": "x"}, want: true},
	})
}

func TestInStr(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "docs 1", expr: `InStr("The quick brown fox","quick")`, want: int64(5)},
		{name: "docs 2", expr: `InStr("repEated","e",3,vbBinaryCompare)`, want: int64(7)},
		{name: "text compare", expr: `InStr("repEated","e",3,vbTextCompare)`, want: int64(4)},
		{name: "text compare string", expr: `InStr("ABC","b",1,"vbTextCompare")`, want: int64(2)},
		{name: "not found", expr: `InStr("abc","z")`, want: int64(0)},
		{name: "start past end", expr: `InStr("abc","c",5)`, want: int64(0)},
		{name: "empty needle", expr: `InStr("abc","",2)`, want: int64(2)},
		{name: "characters not bytes", expr: `InStr("Zoë Smith","Smith")`, want: int64(5)},
		{name: "null haystack", expr: `InStr([x],"a")`, want: nil},
		{name: "null needle", expr: `InStr("a",[x])`, want: nil},
		{name: "start zero", expr: `InStr("a","b",0)`, err: "col 15: InStr argument 3: must be at least 1, got 0"},
		{name: "bad compare", expr: `InStr("a","b",1,"bogus")`, err: "InStr argument 4: compareType must be vbBinaryCompare or vbTextCompare"},
	})
}

func TestNullPredicates(t *testing.T) {
	src := attrs{"empty": "", "v": "x", "none": []string{}, "f": false}
	runEvalCases(t, []evalCase{
		{expr: `IsNull([missing])`, src: src, want: true},
		{expr: `IsNull([empty])`, src: src, want: false},
		{expr: `IsNull([none])`, src: src, want: true},
		{expr: `IsNull([f])`, src: src, want: false},
		{expr: `IsNullOrEmpty([missing])`, src: src, want: true},
		{expr: `IsNullOrEmpty([empty])`, src: src, want: true},
		{expr: `IsNullOrEmpty([v])`, src: src, want: false},
		{expr: `IsPresent([v])`, src: src, want: true},
		{expr: `IsPresent([empty])`, src: src, want: false},
		{expr: `IsPresent([missing])`, src: src, want: false},
		{name: "docs IsPresent switch", expr: `Switch(IsPresent([directManager]),[directManager], IsPresent([skiplevelManager]),[skiplevelManager], IsPresent([director]),[director])`,
			src: attrs{"skiplevelManager": "s"}, want: nil},
	})
}

func TestItem(t *testing.T) {
	src := attrs{"proxyAddresses": []string{"SMTP:a@x", "smtp:b@x"}, "any": []any{"x", int64(2)}, "single": "s"}
	runEvalCases(t, []evalCase{
		{name: "docs first", expr: `Item([proxyAddresses], 1)`, src: src, want: "SMTP:a@x"},
		{expr: `Item([proxyAddresses], 2)`, src: src, want: "smtp:b@x"},
		{name: "out of range", expr: `Item([proxyAddresses], 3)`, src: src, want: nil},
		{expr: `Item([any], 2)`, src: src, want: int64(2)},
		{name: "single value", expr: `Item([single], 1)`, src: src, want: "s"},
		{name: "single value index 2", expr: `Item([single], 2)`, src: src, want: nil},
		{name: "null", expr: `Item([missing], 1)`, src: src, want: nil},
		{name: "index 0", expr: `Item([proxyAddresses], 0)`, err: "col 24: Item argument 2: must be at least 1, got 0"},
		{name: "dynamic index 0", expr: `Item([proxyAddresses], [i])`, src: attrs{"proxyAddresses": []string{"a"}, "i": int64(0)}, want: nil},
	})
}

func TestJoin(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "docs", expr: `Join(", ", "", [surname], [givenName])`, src: attrs{"givenName": "John", "surname": "Doe"}, want: "Doe, John"},
		{name: "flattens multi-valued", expr: `Join(";", [proxy], "x")`, src: attrs{"proxy": []string{"a", "b", "c"}}, want: "a;b;c;x"},
		{name: "flattens []any", expr: `Join(",", [p])`, src: attrs{"p": []any{"a", int64(1), true, nil}}, want: "a,1,True"},
		{name: "skips null", expr: `Join(" ", [givenName], [middle], [surname])`, src: attrs{"givenName": "John", "surname": "Doe"}, want: "John Doe"},
		{name: "all null", expr: `Join(" ", [a], [b])`, want: nil},
		{name: "only empty", expr: `Join(" ", [a], "")`, want: ""},
		{name: "numbers", expr: `Join("", 1000, "x")`, want: "1000x"},
		{name: "one source", expr: `Join(" ", [givenName])`, src: attrs{"givenName": "John"}, want: "John"},
		{name: "null separator", expr: `Join([sep], "a", "b")`, want: "ab"},
		{name: "arity", expr: `Join(" ")`, err: "col 1: Join takes at least 2 arguments, got 1"},
	})
}

func TestLeftMid(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "Left docs", expr: `Left("John Doe", 3)`, want: "Joh"},
		{name: "Left zero", expr: `Left("John Doe", 0)`, want: ""},
		{name: "Left negative", expr: `Left("John Doe", -1)`, want: "John Doe"},
		{name: "Left null", expr: `Left([x], 2)`, want: ""},
		{name: "Left longer", expr: `Left("Jo", 20)`, want: "Jo"},
		{name: "Left characters", expr: `Left("Zoë", 3)`, want: "Zoë"},
		{name: "Left characters 2", expr: `Left("Zoë", 2)`, want: "Zo"},
		{name: "Left bad count", expr: `Left("x", "y")`, err: `Left argument 2: must be an integer, got "y"`},
		{name: "Mid", expr: `Mid([givenName], 1, 3)`, src: attrs{"givenName": "John"}, want: "Joh"},
		{name: "Mid past end", expr: `Mid("John", 2, 10)`, want: "ohn"},
		{name: "Mid start past end", expr: `Mid("John", 5, 1)`, want: ""},
		{name: "Mid characters", expr: `Mid("Zoë", 3, 1)`, want: "ë"},
		{name: "Mid null", expr: `Mid([x], 1, 1)`, want: nil},
		{name: "Mid zero length", expr: `Mid("John", 1, 0)`, want: ""},
		{name: "Mid start 0", expr: `Mid("x", 0, 1)`, err: "col 10: Mid argument 2: must be at least 1, got 0"},
		{name: "Mid negative length", expr: `Mid("x", 1, -1)`, err: "Mid argument 3: must be at least 0, got -1"},
		{name: "docs alias", expr: `Append(Mid([givenName], 1, 3), Mid([surname], 1, 5))`, src: attrs{"givenName": "John", "surname": "Doe"}, want: "JohDoe"},
	})
}

func TestNormalizeDiacritics(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "docs", expr: `NormalizeDiacritics([givenName])`, src: attrs{"givenName": "Zoë"}, want: "Zoe"},
		{expr: `NormalizeDiacritics("Straße")`, want: "Strasse"},
		{expr: `NormalizeDiacritics("Ørsted Æble Œuvre")`, want: "OErsted AEble OEuvre"},
		{expr: `NormalizeDiacritics("Łódź Kraków")`, want: "Lodz Krakow"},
		{expr: `NormalizeDiacritics("İstanbul ığdır")`, want: "Istanbul igdir"},
		{expr: `NormalizeDiacritics("Jéssica Ñúñez-Çelik")`, want: "Jessica Nunez-Celik"},
		{name: "combining marks", expr: "NormalizeDiacritics(\"a\u0331 \u0101\u0301 E\u030A\u0304\")", want: "a a E"},
		{name: "Latin Extended Additional", expr: `NormalizeDiacritics("Ṓ ṻ Ẕ ḗ")`, want: "O u Z e"},
		{name: "Romanian", expr: `NormalizeDiacritics("Ștefan Țară")`, want: "Stefan Tara"},
		{name: "ASCII unchanged", expr: `NormalizeDiacritics("plain")`, want: "plain"},
		{name: "non-Latin unchanged", expr: `NormalizeDiacritics("山田 Ωμέγα")`, want: "山田 Ωμέγα"},
		{name: "null", expr: `NormalizeDiacritics([x])`, want: nil},
	})
}

func TestNot(t *testing.T) {
	runEvalCases(t, []evalCase{
		{expr: `Not(True)`, want: false},
		{expr: `Not(False)`, want: true},
		{expr: `Not("True")`, want: false},
		{expr: `Not("false")`, want: true},
		{name: "null is not True", expr: `Not([x])`, want: true},
		{name: "anything else", expr: `Not("yes")`, want: true},
		{expr: `Not(IsPresent([x]))`, want: true},
		{expr: `Not([enabled])`, src: attrs{"enabled": true}, want: false},
	})
}

func TestPCase(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "docs default separators", expr: `PCase([firstName])`, src: attrs{"firstName": "PABLO GONSALVES (SECOND)"}, want: "Pablo Gonsalves (Second)"},
		{name: "docs custom separators", expr: `PCase([lastName]," '-")`, src: attrs{"lastName": "PINTO-DE'SILVA"}, want: "Pinto-De'Silva"},
		{name: "docs nested join", expr: `PCase(Join(" ",[firstName],[lastName]))`, src: attrs{"firstName": "GREGORY", "lastName": "JAMES"}, want: "Gregory James"},
		{name: "custom separators exclude others", expr: `PCase("anne-marie o'neil", " ")`, want: "Anne-marie O'neil"},
		{name: "default includes punctuation", expr: `PCase("anne-marie o'neil_x")`, want: "Anne-Marie O'Neil_X"},
		{name: "non-ASCII", expr: `PCase("ÉLODIE ÇA")`, want: "Élodie Ça"},
		{name: "null", expr: `PCase([x])`, want: nil},
	})
}

func TestRandomString(t *testing.T) {
	count := func(s, set string) int {
		n := 0
		for _, r := range s {
			if strings.ContainsRune(set, r) {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		expr                             string
		length, digits, special, up, low int
		avoid                            string
	}{
		{`RandomString(6,3,0,0,3)`, 6, 3, 0, 0, 3, ""},
		{`RandomString(10,2,2,2,1,"?,")`, 10, 2, 2, 2, 1, "?,"},
		{`RandomString(256,0,0,0,0,"0123456789")`, 256, 0, 0, 0, 0, "0123456789"},
	} {
		e, err := ParseExpression(tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		for range 20 {
			v, err := e.Eval(context.Background(), nil, nil)
			if err != nil {
				t.Fatalf("%s: %v", tc.expr, err)
			}
			s := v.(string)
			if len(s) != tc.length || count(s, rsDigits) < tc.digits || count(s, rsSpecial) < tc.special ||
				count(s, rsUpper) < tc.up || count(s, rsLower) < tc.low || (tc.avoid != "" && strings.ContainsAny(s, tc.avoid)) {
				t.Fatalf("%s = %q violates its constraints", tc.expr, s)
			}
		}
	}
	runEvalCases(t, []evalCase{
		{name: "too long", expr: `RandomString(300,0,0,0,0)`, err: "RandomString: length must be between 1 and 256, got 300"},
		{name: "minimums exceed length", expr: `RandomString(3,2,2,0,0)`, err: "length 3 is less than the sum of the minimum counts (4)"},
		{name: "dynamic too long", expr: `RandomString([n],0,0,0,0)`, src: attrs{"n": int64(1000)}, err: "length must be between 1 and 256, got 1000"},
		{name: "avoid a required class", expr: `RandomString(4,1,0,0,0,"0123456789")`, err: "charactersToAvoid excludes every character of a required class"},
	})
}

func TestRemoveDuplicates(t *testing.T) {
	runEvalCases(t, []evalCase{
		{expr: `RemoveDuplicates([proxyAddresses])`, src: attrs{"proxyAddresses": []string{"a", "b", "a", "c", "b"}}, want: []string{"a", "b", "c"}},
		{name: "case-sensitive", expr: `RemoveDuplicates([p])`, src: attrs{"p": []string{"a", "A"}}, want: []string{"a", "A"}},
		{name: "[]any", expr: `RemoveDuplicates([p])`, src: attrs{"p": []any{"1", int64(1), int64(1)}}, want: []any{"1", int64(1)}},
		{name: "single", expr: `RemoveDuplicates([p])`, src: attrs{"p": "x"}, want: "x"},
		{name: "null", expr: `RemoveDuplicates([p])`, want: nil},
	})
}

func TestReplace(t *testing.T) {
	phone := `Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", , "${phoneNumber}", , )`
	runEvalCases(t, []evalCase{
		{name: "docs 1 oldValue+replacementValue", expr: `Replace([BusinessTitle],"Product Developer", , , "Software Engineer", , )`,
			src: attrs{"BusinessTitle": "Product Developer"}, want: "Software Engineer"},
		{name: "docs 2 oldValue+template", expr: `Replace([UserID],"<username>", , , , , "<username>@contoso.com")`,
			src: attrs{"UserID": "jsmith"}, want: "jsmith@contoso.com"},
		{name: "docs 3 regex+replacement groups", expr: phone, src: attrs{"telephoneNumber": "+91 9998887777"}, want: "9998887777"},
		{name: "docs 3 remove characters", expr: `Replace([mobile], , "[()\\s-]+", , "", , )`, src: attrs{"mobile": "+1 (999) 888-7777"}, want: "+19998887777"},
		{name: "docs 4 group replace", expr: `Replace([AddressLineData], ,"(?<streetNumber>^\\d*)","streetNumber", "888", , )`,
			src: attrs{"AddressLineData": "545 Tremont Street"}, want: "888 Tremont Street"},
		{name: "docs 4 strip suffix", expr: `Replace([userPrincipalName], , "(?<Suffix>@(.)*)", "Suffix", "", , )`,
			src: attrs{"userPrincipalName": "jsmith@contoso.com"}, want: "jsmith"},
		{name: "docs 5 fallback attribute", expr: `Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", "phoneNumber" , , [mobile], )`,
			src: attrs{"telephoneNumber": "", "mobile": "+91 8887779999"}, want: "8887779999"},
		{name: "docs 5 source present", expr: `Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", "phoneNumber" , , [mobile], )`,
			src: attrs{"telephoneNumber": "+1 2223334444", "mobile": "+91 8887779999"}, want: "+1 2223334444"},
		{name: "docs 5 fallback no match", expr: `Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", "phoneNumber" , , [mobile], )`,
			src: attrs{"mobile": "n/a"}, want: nil},
		{name: "docs 6 remove letters", expr: `Replace([mailNickname], , "[a-zA-Z_]*", , "", , )`, src: attrs{"mailNickname": "john_doe72"}, want: "72"},
		{name: "docs strip domain", expr: `Replace([mail], "@contoso.com", , ,"", ,)`, src: attrs{"mail": "john.doe@contoso.com"}, want: "john.doe"},
		{name: "case-sensitive", expr: `Replace([mail], "@CONTOSO.com", , ,"", ,)`, src: attrs{"mail": "john.doe@contoso.com"}, want: "john.doe@contoso.com"},
		{name: "all occurrences", expr: `Replace("a-b-c", "-", , , "+", , )`, want: "a+b+c"},
		{name: "five arguments", expr: `Replace("a-b", "-", , , "+")`, want: "a+b"},
		{name: "null source", expr: `Replace([x], "-", , , "+", , )`, want: nil},
		{name: "null source template", expr: `Replace([x], "<u>", , , , , "<u>@x")`, want: nil},
		{name: "empty oldValue", expr: `Replace("abc", "", , , "+", , )`, want: "abc"},
		{name: "dynamic pattern", expr: `Replace("a1b2", , [re], , "#", , )`, src: attrs{"re": `\d`}, want: "a#b#"},
		{name: "dynamic bad pattern", expr: `Replace("a1b2", , [re], , "#", , )`, src: attrs{"re": `(`}, err: "Replace argument 3: error parsing regexp"},
		{name: "dynamic unknown group", expr: `Replace("a1", , "(?<d>\\d)", [g], "#", , )`, src: attrs{"g": "x"}, err: `Replace argument 4: regexPattern has no group named "x"`},
		{name: "no mode", expr: `Replace([x], , , , , , )`, err: "col 1: Replace: give oldValue with replacementValue or template"},
		{name: "bad regex", expr: `Replace([x], , "(", , "", , )`, err: "col 16: Replace argument 3: invalid regexPattern: error parsing regexp: missing closing )"},
		{name: "unknown group", expr: `Replace([x], , "(?<a>x)", "b", "", , )`, err: `col 27: Replace argument 4: regexPattern has no group named "b"`},
		{name: "arity", expr: `Replace([x], "a")`, err: "Replace takes 5 to 7 arguments, got 2"},
	})
}

func TestSplitStripSpacesWord(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "split", expr: `Split([extensionAttribute5], ",")`, src: attrs{"extensionAttribute5": "PermissionSetOne,PermissionSetTwo"}, want: []string{"PermissionSetOne", "PermissionSetTwo"}},
		{name: "split keeps spaces", expr: `Split("a, b", ",")`, want: []string{"a", " b"}},
		{name: "split multi-char", expr: `Split("a::b", "::")`, want: []string{"a", "b"}},
		{name: "split empty delimiter", expr: `Split("abc", "")`, want: []string{"abc"}},
		{name: "split null", expr: `Split([x], ",")`, want: nil},
		{name: "split then join", expr: `Join("|", Split("a,b,c", ","))`, want: "a|b|c"},
		{name: "StripSpaces", expr: `StripSpaces("John  Smith ")`, want: "JohnSmith"},
		{name: "StripSpaces only spaces", expr: "StripSpaces(\"a\tb\")", want: "a\tb"},
		{name: "StripSpaces null", expr: `StripSpaces([x])`, want: nil},
		{name: "Word docs 1", expr: `Word("The quick brown fox",3," ")`, want: "brown"},
		{name: "Word docs 2", expr: `Word("This,string!has&many separators",3,",!&#")`, want: "has"},
		{name: "Word consecutive delimiters", expr: `Word("a  b",2," ")`, want: "b"},
		{name: "Word too few", expr: `Word("a b",3," ")`, want: ""},
		{name: "Word zero", expr: `Word("a b",0," ")`, want: ""},
		{name: "Word null", expr: `Word([x],1," ")`, want: ""},
	})
}

func TestSwitch(t *testing.T) {
	tz := `Switch([state], "Australia/Sydney", "NSW", "Australia/Sydney","QLD", "Australia/Brisbane", "SA", "Australia/Adelaide")`
	runEvalCases(t, []evalCase{
		{name: "docs match", expr: tz, src: attrs{"state": "QLD"}, want: "Australia/Brisbane"},
		{name: "docs default", expr: tz, src: attrs{"state": "VIC"}, want: "Australia/Sydney"},
		{name: "docs null source", expr: tz, want: "Australia/Sydney"},
		{name: "case-sensitive", expr: tz, src: attrs{"state": "qld"}, want: "Australia/Sydney"},
		{name: "docs empty key", expr: `Switch([statusFlag], "Default Value", "true", "1", "", "0")`, want: "0"},
		{name: "docs ToLower", expr: `Switch(ToLower([statusFlag]), "0", "true", "1", "false", "0")`, src: attrs{"statusFlag": "TRUE"}, want: "1"},
		{name: "omitted default", expr: `Switch([Active], , "1", "yes", "0", "no")`, src: attrs{"Active": "7"}, want: nil},
		{name: "Boolean source", expr: `Switch([enabled], "x", "True", "on", "False", "off")`, src: attrs{"enabled": true}, want: "on"},
		{name: "integer source", expr: `Switch([n], "x", "1", "one")`, src: attrs{"n": int64(1)}, want: "one"},
		{name: "numeric keys", expr: `Switch([n], "x", 2, "two")`, src: attrs{"n": "2"}, want: "two"},
		{name: "lazy values", expr: `Switch("a", Mid("x", [z], 1), "a", "ok")`, src: attrs{"z": int64(0)}, want: "ok"},
		{name: "odd argument count", expr: `Switch([a], "d", "k")`, err: "Switch takes at least 4 arguments, got 3"},
		{name: "odd argument count 5", expr: `Switch([a], "d", "k", "v", "k2")`, err: "col 1: Switch: takes source, defaultValue and then key/value pairs (an even number of arguments), got 5"},
	})
}

func TestCase(t *testing.T) {
	runEvalCases(t, []evalCase{
		{expr: `ToLower("JOHN")`, want: "john"},
		{expr: `ToUpper("john")`, want: "JOHN"},
		{name: "already lower", expr: `ToLower("john")`, want: "john"},
		{name: "Turkish lower", expr: `ToLower("TITLE", "tr-TR")`, want: "tıtle"},
		{name: "Turkish upper", expr: `ToUpper("title", "tr-TR")`, want: "TİTLE"},
		{name: "invariant culture", expr: `ToUpper("title", "en-US")`, want: "TITLE"},
		{name: "null", expr: `ToLower([x])`, want: nil},
		{name: "docs UPN", expr: `ToLower(Join("@", NormalizeDiacritics(StripSpaces(Join(".",  [PreferredFirstName], [PreferredLastName]))), "contoso.com"))`,
			src: attrs{"PreferredFirstName": "John", "PreferredLastName": "Smith"}, want: "john.smith@contoso.com"},
		{name: "number", expr: `ToLower([n])`, src: attrs{"n": int64(5)}, want: "5"},
	})
}

func TestRedactEval(t *testing.T) {
	runEvalCases(t, []evalCase{
		{expr: `Redact([userPrincipalName])`, src: attrs{"userPrincipalName": "u@x"}, want: "u@x"},
		{expr: `Redact("StringToBeRedacted")`, want: "StringToBeRedacted"},
		{expr: `Redact([x])`, want: nil},
	})
}

func TestAttributeReferences(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "extension URN", expr: `[urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department]`,
			src: attrs{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Sales"}, want: "Sales"},
		{name: "spaces", expr: `[Employee ID]`, src: attrs{"Employee ID": "42"}, want: "42"},
		{name: "trimmed", expr: `[ givenName ]`, src: attrs{"givenName": "John"}, want: "John"},
		{name: "dotted key", expr: `[name.givenName]`, src: attrs{"name.givenName": "John"}, want: "John"},
		{name: "dotted path", expr: `[name.givenName]`, src: attrs{"name": map[string]any{"givenName": "Jane"}}, want: "Jane"},
		{name: "dotted path missing", expr: `[name.familyName]`, src: attrs{"name": map[string]any{"givenName": "Jane"}}, want: nil},
		{name: "SCIM filter path", expr: `[emails[type eq "work"].value]`, src: attrs{`emails[type eq "work"].value`: "w@x"}, want: "w@x"},
		{name: "multi-valued copied", expr: `[p]`, src: attrs{"p": []string{"a"}}, want: []string{"a"}},
		{name: "empty multi-valued is null", expr: `[p]`, src: attrs{"p": []string{}}, want: nil},
		{name: "int normalised", expr: `[n]`, src: attrs{"n": 3}, want: int64(3)},
		{name: "literal", expr: `"x"`, want: "x"},
		{name: "escapes", expr: `"Company name: \"Contoso\" \\ done"`, want: `Company name: "Contoso" \ done`},
		{name: "booleans any case", expr: `Join(",", TRUE, false)`, want: "True,False"},
		{name: "float literal", expr: `CStr(-1.25)`, want: "-1.25"},
		{name: "function names case-insensitive", expr: `tolower(JOIN(" ", "A", "B"))`, want: "a b"},
		{name: "whitespace and newlines", expr: "Join( \" \" ,\n\t[a] ,\r\n [b] )", src: attrs{"a": "1", "b": "2"}, want: "1 2"},
	})
}

func TestEvalDoesNotAliasSource(t *testing.T) {
	src := attrs{"p": []string{"a", "b"}}
	e, err := ParseExpression(`[p]`)
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.Eval(context.Background(), src, nil)
	if err != nil {
		t.Fatal(err)
	}
	v.([]string)[0] = "changed"
	if src["p"].([]string)[0] != "a" {
		t.Fatal("Eval returned the source's slice")
	}
}

func TestFunctionNames(t *testing.T) {
	names := FunctionNames()
	for _, want := range []string{"Append", "CBool", "CStr", "Coalesce", "FormatDateTime", "IIF", "IgnoreFlowIfNullOrEmpty",
		"InStr", "IsNull", "IsNullOrEmpty", "IsPresent", "Item", "Join", "Left", "Mid", "NormalizeDiacritics", "Not", "PCase",
		"Replace", "SelectUniqueValue", "Split", "StripSpaces", "Switch", "ToLower", "ToUpper", "Word", "DateAdd", "DateDiff",
		"Now", "Guid", "CDate", "ConvertToBase64", "ConvertToUTF8Hex", "Count", "RemoveDuplicates", "RandomString", "Redact",
		"BitAnd", "IsString", "NumFromDate", "DateFromNum"} {
		found := false
		for _, n := range names {
			if n == want {
				found = true
			}
		}
		if !found {
			t.Errorf("function %s is missing from FunctionNames()", want)
		}
	}
}

func TestSelectUniqueValueEval(t *testing.T) {
	const expr = `SelectUniqueValue(
        Join("@", NormalizeDiacritics(StripSpaces(Join(".",  [PreferredFirstName], [PreferredLastName]))), "contoso.com"),
        Join("@", NormalizeDiacritics(StripSpaces(Join(".",  Mid([PreferredFirstName], 1, 1), [PreferredLastName]))), "contoso.com"),
        Join("@", NormalizeDiacritics(StripSpaces(Join(".",  Mid([PreferredFirstName], 1, 2), [PreferredLastName]))), "contoso.com")
    )`
	e, err := ParseExpression(expr)
	if err != nil {
		t.Fatal(err)
	}
	src := attrs{"PreferredFirstName": "John", "PreferredLastName": "Smith"}
	for _, tc := range []struct {
		name     string
		existing []string
		want     any
		err      string
	}{
		{name: "first free", want: "John.Smith@contoso.com"},
		{name: "second", existing: []string{"John.Smith@contoso.com"}, want: "J.Smith@contoso.com"},
		{name: "third", existing: []string{"John.Smith@contoso.com", "J.Smith@contoso.com"}, want: "Jo.Smith@contoso.com"},
		{name: "none free", existing: []string{"John.Smith@contoso.com", "J.Smith@contoso.com", "Jo.Smith@contoso.com"},
			err: `SelectUniqueValue: every candidate value already exists in the target ("John.Smith@contoso.com", "J.Smith@contoso.com", "Jo.Smith@contoso.com")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := &fakeEnv{existing: map[string]bool{}}
			for _, v := range tc.existing {
				env.existing[v] = true
			}
			got, err := e.Eval(context.Background(), src, env)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrNoUniqueValue) {
					t.Fatalf("got %v, %v; want error %q wrapping ErrNoUniqueValue", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	// Without an Env the first non-null candidate wins.
	e2, err := ParseExpression(`SelectUniqueValue([a], [b], "c")`)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e2.Eval(context.Background(), attrs{"b": "B"}, nil); err != nil || got != "B" {
		t.Fatalf("nil env: got %v, %v", got, err)
	}
	// Env errors propagate.
	boom := errors.New("target unreachable")
	_, err = e2.Eval(context.Background(), attrs{"a": "A"}, &fakeEnv{err: boom})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), `checking whether "A" exists in the target: target unreachable`) {
		t.Fatalf("env error: %v", err)
	}
}

// fakeEnv reports values in existing as taken and records the questions asked.
type fakeEnv struct {
	existing map[string]bool
	err      error
	asked    []string
}

func (f *fakeEnv) Exists(_ context.Context, attr string, value any) (bool, error) {
	s, _ := value.(string)
	f.asked = append(f.asked, attr+"="+s)
	if f.err != nil {
		return false, f.err
	}
	return f.existing[s], nil
}
