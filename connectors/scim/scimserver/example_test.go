package scimserver_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/provisiond/provisiond/connectors/scim/scimserver"
)

func Example() {
	s, err := scimserver.New(scimserver.Options{Token: "secret"})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	call := func(method, path, body string) *http.Response {
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer secret")
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	resp := call("POST", "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice@example.com","active":true}`)
	fmt.Println("create:", resp.StatusCode)

	u, _ := s.UserByUserName("ALICE@example.com")
	fmt.Println("stored:", u["userName"], u["active"])

	s.SetFaults(scimserver.Faults{ThrottleRate: 1, RetryAfter: 2 * time.Second})
	resp = call("GET", "/scim/v2/Users?filter=userName%20eq%20%22alice@example.com%22", "")
	fmt.Println("throttled:", resp.StatusCode, resp.Header.Get("Retry-After"))

	s.SetFaults(scimserver.Faults{})
	fmt.Println("stats:", s.Stats().Users, s.Stats().ByStatus)
	// Output:
	// create: 201
	// stored: alice@example.com true
	// throttled: 429 2
	// stats: 1 map[201:1 429:1]
}
