// Package wire holds what the plugin host (package plugin) and the author SDK (package
// plugin/sdk) share: the go-plugin handshake, the plugin set, and the conversions between
// the connector SPI's Go types and the protocol's messages (package connectorpb).
package wire

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// ProtocolVersion is the connector plugin protocol version this build speaks
// (connectors/plugin/proto/connector.proto).
const ProtocolVersion = 1

// PluginName is the name the connector is dispensed under in the go-plugin plugin set.
const PluginName = "connector"

// Handshake is the go-plugin handshake. The cookie is not security (AutoMTLS is): it only
// tells a plugin that it was started by provisiond, and a user who runs it by hand that it
// is a plugin.
var Handshake = goplugin.HandshakeConfig{
	MagicCookieKey:   "PROVISIOND_CONNECTOR_PLUGIN",
	MagicCookieValue: "7f3c9a1e5b2d48c6a0e4f18d93b7c25e6a1f0d4b8c3e97a2",
}

// Env names the plugin's environment variables set by the host.
const (
	// EnvLogLevel is the lowest level the host logs ("trace", "debug", "info", "warn",
	// "error"): the plugin need not write records below it.
	EnvLogLevel = "PROVISIOND_PLUGIN_LOG_LEVEL"
)

// Metadata keys.
const (
	// MDRecordCalls in request metadata ("1") asks the plugin for its connector calls.
	MDRecordCalls = "provisiond-calls"
	// MDCalls is the trailer carrying a CallList (binary).
	MDCalls = "provisiond-calls-bin"
)

// GRPCPlugin is the go-plugin plugin: on the plugin side Register registers the services
// on the gRPC server; on the host side GRPCClient returns the *grpc.ClientConn (the host
// builds its stubs on it).
type GRPCPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	// Register is set on the plugin side.
	Register func(*grpc.Server)
}

// GRPCServer implements goplugin.GRPCPlugin.
func (p *GRPCPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	p.Register(s)
	return nil
}

// GRPCClient implements goplugin.GRPCPlugin.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return c, nil
}

// PluginSet returns the versioned plugin sets for the host (register nil) or a plugin.
func PluginSet(register func(*grpc.Server), versions ...int) map[int]goplugin.PluginSet {
	if len(versions) == 0 {
		versions = []int{ProtocolVersion}
	}
	out := make(map[int]goplugin.PluginSet, len(versions))
	for _, v := range versions {
		out[v] = goplugin.PluginSet{PluginName: &GRPCPlugin{Register: register}}
	}
	return out
}

// Override changes what the SDK serves, for the host's tests only (a plugin cannot import
// this package): protocol versions and the magic cookie's value.
type Override struct {
	Versions []int
	Cookie   string
}

// ServeOverride, when set before sdk.Serve, applies.
var ServeOverride *Override
