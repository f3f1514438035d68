package scimserver

import "testing"

func TestFixItemsPerPage(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{`{"Resources":[],"itemsPerPage":1000,"schemas":[]}`, 7, `{"Resources":[],"itemsPerPage":7,"schemas":[]}`},
		{`{"Resources":[],"itemsPerPage":5,"schemas":[]}`, 5, `{"Resources":[],"itemsPerPage":5,"schemas":[]}`},
		{`{"Resources":[],"itemsPerPage":5,"schemas":[]}`, 12, `{"Resources":[],"itemsPerPage":12,"schemas":[]}`},
		{`{"x":"\"itemsPerPage\":9","itemsPerPage":10}`, 0, `{"x":"\"itemsPerPage\":9","itemsPerPage":0}`},
	} {
		if got := string(fixItemsPerPage([]byte(tt.in), tt.n)); got != tt.want {
			t.Errorf("fixItemsPerPage(%s, %d) = %s", tt.in, tt.n, got)
		}
	}
}

func TestCompleteMeta(t *testing.T) {
	body := `{"Resources":[{"id":"b","meta":{"resourceType":"User","location":"Users/b","version":"W/\"2\""},"x":"\"meta\":{\"resourceType\":\"User\""},` +
		`{"id":"a","meta":{"resourceType":"User","location":"Users/a","version":"W/\"1\""}}]}`
	metas := []metaRec{{id: "b", created: "C2", modified: "M2"}, {id: "a", created: "C1", modified: "M1"}}
	want := `{"Resources":[{"id":"b","meta":{"resourceType":"User","created":"C2","lastModified":"M2","location":"http://h/scim/v2/Users/b","version":"W/\"2\""},"x":"\"meta\":{\"resourceType\":\"User\""},` +
		`{"id":"a","meta":{"resourceType":"User","created":"C1","lastModified":"M1","location":"http://h/scim/v2/Users/a","version":"W/\"1\""}}]}`
	if got := string(completeMeta([]byte(body), metas, "http://h/scim/v2")); got != want {
		t.Errorf("completeMeta:\n got %s\nwant %s", got, want)
	}
	// Out of order records are found by id.
	metas[0], metas[1] = metas[1], metas[0]
	if got := string(completeMeta([]byte(body), metas, "http://h/scim/v2")); got != want {
		t.Errorf("completeMeta with records out of order:\n got %s\nwant %s", got, want)
	}
}
