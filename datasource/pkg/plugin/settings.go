package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

// ID is the plugin id (plugin.json "id"); Manage must be called with it.
const ID = "provisiond-provisioning-datasource"

// DefaultTimeout bounds each API call when the settings name no timeout.
const DefaultTimeout = 30 * time.Second

// Settings are one datasource's settings: jsonData {apiUrl, tlsSkipVerify, timeoutSeconds}
// and secureJsonData {apiToken}. The token is unexported and never printed: String and the
// errors of LoadSettings leave it out.
type Settings struct {
	// APIURL is provisiond's base URL ("http://provisiond:8080"); when jsonData has none,
	// the datasource's URL field is used.
	APIURL string
	// TLSSkipVerify accepts any certificate of an https API (tests, self-signed setups).
	TLSSkipVerify bool
	// Timeout bounds each API call (jsonData.timeoutSeconds; default DefaultTimeout).
	Timeout  time.Duration
	apiToken string
}

// Token returns the decrypted API token ("" when not set).
func (s Settings) Token() string { return s.apiToken }

// String describes the settings without the token.
func (s Settings) String() string {
	tok := "not set"
	if s.apiToken != "" {
		tok = "set"
	}
	return fmt.Sprintf("apiUrl=%q tlsSkipVerify=%v timeout=%s apiToken=%s", s.APIURL, s.TLSSkipVerify, s.Timeout, tok)
}

// GoString is String, so that %#v does not print the token either.
func (s Settings) GoString() string { return s.String() }

// Errors of LoadSettings and Settings.Validate that CheckHealth explains.
var (
	ErrNoURL   = errors.New("the provisiond API URL is not set")
	ErrNoToken = errors.New("the API token is not set")
)

// LoadSettings reads a datasource's settings. It fails only on malformed jsonData; a
// missing URL or token is reported by Validate, so that CheckHealth can say what to fix.
func LoadSettings(s backend.DataSourceInstanceSettings) (Settings, error) {
	out := Settings{Timeout: DefaultTimeout, apiToken: strings.TrimSpace(s.DecryptedSecureJSONData["apiToken"])}
	if len(s.JSONData) > 0 && string(s.JSONData) != "null" {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(s.JSONData, &raw); err != nil {
			return out, fmt.Errorf("datasource settings (jsonData) are not a JSON object: %w", err)
		}
		if v, ok := raw["apiUrl"]; ok {
			u, err := stringValue(v)
			if err != nil {
				return out, fmt.Errorf("datasource setting apiUrl: %w", err)
			}
			out.APIURL = u
		}
		if v, ok := raw["tlsSkipVerify"]; ok {
			b, err := boolValue(v)
			if err != nil {
				return out, fmt.Errorf("datasource setting tlsSkipVerify: %w", err)
			}
			out.TLSSkipVerify = b
		}
		if v, ok := raw["timeoutSeconds"]; ok {
			f, set, err := numberValue(v)
			if err != nil {
				return out, fmt.Errorf("datasource setting timeoutSeconds: %w", err)
			}
			if set {
				if f <= 0 || f > 3600 || math.IsNaN(f) {
					return out, fmt.Errorf("datasource setting timeoutSeconds: want 1 to 3600 seconds, got %v", f)
				}
				out.Timeout = time.Duration(f * float64(time.Second))
			}
		}
	}
	if out.APIURL == "" {
		out.APIURL = strings.TrimSpace(s.URL)
	}
	out.APIURL = strings.TrimRight(out.APIURL, "/")
	return out, nil
}

// Validate reports a missing URL or token.
func (s Settings) Validate() error {
	if s.APIURL == "" {
		return ErrNoURL
	}
	if s.apiToken == "" {
		return ErrNoToken
	}
	return nil
}

// stringValue decodes a JSON string (null is "").
func stringValue(raw json.RawMessage) (string, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return strings.TrimSpace(x), nil
	}
	return "", fmt.Errorf("want a string, got %s", jsonKind(v))
}

// boolValue decodes a JSON boolean, or a string "true"/"false" (a template variable).
func boolValue(raw json.RawMessage) (bool, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, err
	}
	switch x := v.(type) {
	case nil:
		return false, nil
	case bool:
		return x, nil
	case string:
		if strings.TrimSpace(x) == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(strings.TrimSpace(x))
		if err != nil {
			return false, fmt.Errorf("want true or false, got %q", x)
		}
		return b, nil
	}
	return false, fmt.Errorf("want true or false, got %s", jsonKind(v))
}

// numberValue decodes a JSON number or a numeric string; null and "" are unset.
func numberValue(raw json.RawMessage) (float64, bool, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, false, err
	}
	switch x := v.(type) {
	case nil:
		return 0, false, nil
	case float64:
		return x, true, nil
	case string:
		if strings.TrimSpace(x) == "" {
			return 0, false, nil
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, false, fmt.Errorf("want a number, got %q", x)
		}
		return f, true, nil
	}
	return 0, false, fmt.Errorf("want a number, got %s", jsonKind(v))
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
