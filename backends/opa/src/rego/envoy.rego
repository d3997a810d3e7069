package seg.envoy

# Adapter for the OPA-Envoy ext_authz plugin: decides the CheckRequest in
# `input` with data.seg.authz. Configure the plugin with
#   path: seg/envoy/allow
# (the bundle's only root is `seg`, so the plugin's default `envoy/authz/allow`
# is not used).
#
# - source: the client certificate's URI SAN (`source.principal`, present only
#   with mTLS) and the peer address; mtls is true exactly when the principal
#   is present;
# - destination: the local certificate's principal and the local address and
#   port;
# - protocol: tcp, or udp for HTTP/3;
# - request: the HTTP method and the path without its query or fragment;
# - the clock is always the real one; context inputs are not taken from the
#   request (a client could forge them), so context conditions fail.

default allow := false

allow if {
	data.seg.authz.allow with input as flow
}

decision := d if {
	d := data.seg.authz.decision with input as flow
}

_attrs := input.attributes

flow := {
	"source": object.union(_principal(_attrs.source), _address(_attrs.source)),
	"destination": object.union(_principal(_attrs.destination), _address(_attrs.destination)),
	"protocol": _protocol,
	"port": _attrs.destination.address.socketAddress.portValue,
	"mtls": _mtls,
	"request": _request,
}

_principal(peer) := {"principal": peer.principal} if {
	is_string(peer.principal)
	peer.principal != ""
} else := {}

_address(peer) := {"address": peer.address.socketAddress.address} if {
	is_string(peer.address.socketAddress.address)
} else := {}

_mtls := true if {
	is_string(_attrs.source.principal)
	_attrs.source.principal != ""
} else := false

_protocol := "udp" if {
	_attrs.request.http.protocol == "HTTP/3"
} else := "tcp"

_request := object.union(_method, _path)

_method := {"method": _attrs.request.http.method} if {
	is_string(_attrs.request.http.method)
} else := {}

_path := {"path": p} if {
	is_string(_attrs.request.http.path)
	p := split(split(_attrs.request.http.path, "?")[0], "#")[0]
} else := {}
