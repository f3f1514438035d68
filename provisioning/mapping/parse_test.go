package mapping

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	deep := strings.Repeat("ToLower(", 101) + `"x"` + strings.Repeat(")", 101)
	for _, tc := range []struct {
		name, expr, want string
	}{
		{"unclosed call", `Join(" ", [a]`, `expression: col 14: expected "," or ")" after argument 2 of Join, found end of expression`},
		{"unclosed call after comma", `Join(" ", `, `expression: col 11: expected an argument or ")" to close Join( opened at col 5, found end of expression`},
		{"unknown function", `Jion(" ", [a])`, `expression: col 1: unknown function "Jion" (did you mean Join?)`},
		{"unknown function nested", `Join(" ", Foo([a]))`, `expression: col 11: unknown function "Foo"`},
		{"too few arguments", `Join(" ")`, `expression: col 1: Join takes at least 2 arguments, got 1`},
		{"too many arguments", `ToLower("a", "b", "c")`, `expression: col 1: ToLower takes 1 to 2 arguments, got 3`},
		{"exact arity", `Mid("a", 1)`, `expression: col 1: Mid takes 3 arguments, got 2`},
		{"missing separator", `Append([a] "x")`, `expression: col 12: expected "," or ")" after argument 1 of Append, found "\""`},
		{"unterminated attribute", `Append([givenName, "x")`, `expression: col 8: unterminated attribute reference: expected "]"`},
		{"empty attribute", `Append([ ], "x")`, `expression: col 8: empty attribute name in []`},
		{"unterminated string", `Append([a], "x)`, `expression: col 13: unterminated string literal: expected closing "`},
		{"bad escape", `Append([a], "\d")`, `expression: col 14: invalid escape "\d" in string: only \" and \\ are allowed (write \\ for a backslash)`},
		{"trailing input", `Append([a], "x") extra`, `expression: col 18: unexpected "e" after the end of the expression`},
		{"two expressions", `[a] [b]`, `expression: col 5: unexpected "[" after the end of the expression`},
		{"empty", `   `, `expression: col 4: empty expression`},
		{"bare word", `givenName`, `expression: col 1: unknown identifier "givenName" (function calls need parentheses, attribute names need [brackets], strings need "quotes")`},
		{"function without parentheses", `ToLower`, `expression: col 8: expected "(" after function name ToLower`},
		{"unexpected character", `Append([a], #)`, `expression: col 13: unexpected "#", expected a function call, an [attribute], a "string", a number, True or False`},
		{"chained comparison", `IIF([a]=1=2, "x", "y")`, `expression: col 10: comparisons cannot be chained; nest them in IIF instead`},
		{"comparison without right side", `IIF([a]=, "x", "y")`, `expression: col 9: unexpected ",", expected a function call`},
		{"nested SelectUniqueValue", `ToLower(SelectUniqueValue([a], [b]))`, `expression: col 9: SelectUniqueValue must be the outermost function of the expression; it cannot be nested`},
		{"SelectUniqueValue needs two", `SelectUniqueValue([a])`, `expression: col 1: SelectUniqueValue takes at least 2 arguments, got 1`},
		{"number out of range", `CStr(99999999999999999999)`, `expression: col 6: number 99999999999999999999 is out of range`},
		{"number then letters", `CStr(12ab)`, `expression: col 8: unexpected "a" after number 12`},
		{"lone minus", `CStr(-)`, `expression: col 6: unexpected "-", expected a function call`},
		{"empty hex", `BitAnd(&H, 1)`, `expression: col 10: expected hexadecimal digits after &H`},
		{"too deep", deep, `expression: col 801: functions are nested more than 100 deep`},
		{"multi-line position", "Join(\" \",\n  [a],\n  Jion([b]))", `expression: line 3 col 3: unknown function "Jion" (did you mean Join?)`},
		{"character columns", `Join("é", Fooo())`, `expression: col 11: unknown function "Fooo"`},
		{"invalid UTF-8", "Join(\"\xff\", [a])", `expression: col 7: invalid UTF-8`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseExpression(tc.expr)
			if err == nil {
				t.Fatalf("%q parsed; want error %q", tc.expr, tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("%q:\n got  %s\n want %s", tc.expr, err, tc.want)
			}
			var ee *ExprError
			if !errors.As(err, &ee) || ee.Col < 1 || ee.Line < 1 || ee.Offset < 0 || ee.Offset > len(tc.expr) {
				t.Fatalf("%q: error %#v is not a well-formed *ExprError", tc.expr, err)
			}
		})
	}
}

func TestParseMaxLength(t *testing.T) {
	pad := strings.Repeat(" ", MaxExpressionLength-len(`"x"`))
	if _, err := ParseExpression(pad + `"x"`); err != nil {
		t.Fatalf("expression of exactly %d characters: %v", MaxExpressionLength, err)
	}
	// Characters, not bytes: 10,000 "é" fit.
	if _, err := ParseExpression(`"` + strings.Repeat("é", MaxExpressionLength-2) + `"`); err != nil {
		t.Fatalf("10,000 characters of multi-byte text: %v", err)
	}
	_, err := ParseExpression(pad + ` "x"`)
	if err == nil || err.Error() != "expression: col 1: expression is 10001 characters long; the maximum is 10000" {
		t.Fatalf("over-long expression: %v", err)
	}
}

func TestParseAccepts(t *testing.T) {
	for _, s := range []string{
		`Switch([Active], , "1", "True", "0", "False")`,
		`FormatDateTime([x], , "yyyy", "yyyy")`,
		`Replace([mail], "@contoso.com", , ,"", ,)`,
		`Guid( )`,
		`BitAnd(&hff, &H0)`,
		`IIF([a]>=1,"x","y")`,
		`IIF( [a] <= "b" , 1 , 2 )`,
		`Coalesce([a],,"x")`,
		`[a]`,
		`-5`,
		`.5`,
		`-.5`,
	} {
		if _, err := ParseExpression(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
}

func TestExprString(t *testing.T) {
	const s = `Join(" ", [a], [b])`
	e, err := ParseExpression(s)
	if err != nil {
		t.Fatal(err)
	}
	if e.String() != s {
		t.Fatalf("String() = %q", e.String())
	}
}

func TestOmittedArgumentIsNull(t *testing.T) {
	e, err := ParseExpression(`Coalesce(, [a], , "d")`)
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.Eval(context.Background(), nil, nil)
	if err != nil || v != "d" {
		t.Fatalf("got %v, %v", v, err)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"join", "join", 0}, {"jion", "join", 1}, {"jon", "join", 1}, {"joinx", "join", 1}, {"", "abc", 3}, {"abc", "", 3}, {"kitten", "sitting", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func FuzzParseExpression(f *testing.F) {
	for _, s := range []string{
		`Join(" ", [givenName], [surname])`,
		`Switch([state], "Australia/Sydney", "NSW", "Australia/Sydney","QLD", "Australia/Brisbane")`,
		`Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", , "${phoneNumber}", , )`,
		`FormatDateTime([extensionAttribute1], , "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")`,
		`IIF([country]="USA",IIF([state]="CA","True","False"),"False")`,
		`SelectUniqueValue(Join("@", [a], "x.com"), Join("@", Mid([a], 1, 1), "x.com"))`,
		`BitAnd(&HF, &HF7)`,
		`IgnoreFlowIfNullOrEmpty(Switch([prefix], "", "3443", "Dr."))`,
		`NumFromDate(Join("", FormatDateTime([d], ,"yyyy-MM-ddzzz", "yyyy-MM-dd"), " 23:59:59-08:00"))`,
		"Join(\" \",\n [a],\n Jion([b]))",
		`Word("This,string!has&many separators",3,",!&#")`,
		`"\"\\"`, `[`, `"`, `(`, `Join(`, `IIF([a]=`, `&H`, `-`, `[emails[type eq "work"].value]`,
	} {
		f.Add(s)
	}
	src := attrs{"givenName": "Zoë", "surname": "Smith", "state": "QLD", "a": "x", "d": "2020-12-31-08:00",
		"telephoneNumber": "+91 9998887777", "country": "USA", "p": []string{"a", "b"}, "n": int64(7)}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpression(s)
		if err != nil {
			var ee *ExprError
			if !errors.As(err, &ee) {
				t.Fatalf("%q: error is %T, not *ExprError", s, err)
			}
			if ee.Col < 1 || ee.Line < 1 || ee.Offset < 0 || ee.Offset > len(s) || !strings.HasPrefix(err.Error(), "expression: ") {
				t.Fatalf("%q: malformed error %#v", s, ee)
			}
			return
		}
		if e.String() != s {
			t.Fatalf("String() = %q, want %q", e.String(), s)
		}
		// Evaluation must not panic either; errors are fine.
		_, _ = e.Eval(context.Background(), src, nil)
	})
}
