package scimserver

import (
	"slices"
	"testing"
	"time"
)

// TestMetaTimeFiltersWithinASecond: meta.lastModified comparisons order times within one
// second correctly, including fractions with leading zeros (the library's dateTime parser
// reads ".011" as .110 s) and literals in other zones or precisions.
func TestMetaTimeFiltersWithinASecond(t *testing.T) {
	s, c := newTestServer(t, Options{})
	base := time.Date(2026, 11, 24, 23, 38, 31, 0, time.UTC)
	var at time.Time
	s.now = func() time.Time { return at }
	for _, u := range []struct {
		name string
		ms   int
	}{{"u005", 5}, {"u011", 11}, {"u096", 96}, {"u100", 100}, {"u950", 950}} {
		at = base.Add(time.Duration(u.ms) * time.Millisecond)
		c.createUser(u.name+"@example.com", nil)
	}
	cases := []struct {
		filter string
		want   []string
	}{
		{`meta.lastModified gt "2026-11-24T23:38:31.011Z"`, []string{"u096", "u100", "u950"}},
		{`meta.lastModified ge "2026-11-24T23:38:31.011Z"`, []string{"u011", "u096", "u100", "u950"}},
		{`meta.lastModified lt "2026-11-24T23:38:31.096Z"`, []string{"u005", "u011"}},
		{`meta.lastModified gt "2026-11-24T23:38:31.0961234Z"`, []string{"u100", "u950"}},
		{`meta.lastModified gt "2026-11-25T00:38:31.099+01:00"`, []string{"u100", "u950"}},
		{`meta.created eq "2026-11-24T23:38:31.005Z"`, []string{"u005"}},
		{`meta.lastModified gt "2026-11-24T23:38:30Z" and meta.lastModified lt "2026-11-24T23:38:31.1Z"`, []string{"u005", "u011", "u096"}},
	}
	for _, tc := range cases {
		r := c.list("Users", "filter", tc.filter).expect(t, 200)
		var got []string
		for _, n := range names(r.body, "userName") {
			got = append(got, n[:4])
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.filter, got, tc.want)
		}
	}
}
