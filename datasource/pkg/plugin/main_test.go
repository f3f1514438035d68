package plugin

import (
	"os"
	"testing"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"
)

func TestMain(m *testing.M) {
	// The SDK's middlewares log every request at debug level; keep test output readable.
	log.DefaultLogger = log.NewNullLogger()
	backend.Logger = log.DefaultLogger
	os.Exit(m.Run())
}
