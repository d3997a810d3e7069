package seg.authz

# Decides one flow against the rules in data.seg (seg/data.json).
#
# Input (see input.schema.json and docs/backends/opa.md):
#   source, destination  {"principal": "<SPIFFE ID or name>"} and/or {"address": "<IP>"}
#   protocol             "tcp" | "udp" | "sctp" | "icmp" | IP protocol number
#   port                 destination port (tcp, udp, sctp)
#   mtls                 true when mutually authenticated as source.principal
#   request              {"method", "path"} (optional)
#   context              declared context inputs (optional)
#   now                  RFC 3339 instant to decide at (optional; else the clock)
#
# Fail closed: malformed input is never allowed; each condition is decided by
# two positive tests (holds / fails), so a condition that cannot be evaluated
# makes an allow not match and a deny still apply.

default allow := false

allow if {
	count(input_errors) == 0
	count(allowing) > 0
	count(blocking) == 0
}

decision := {
	"allow": allow,
	"matched": [m |
		some i in (allowing | blocking)
		r := data.seg.rules[i]
		m := {"rule": r.label, "file": r.file, "line": r.line}
	],
	"reason": reason,
}

reason := concat("", ["malformed input: ", concat("; ", sort(input_errors))]) if {
	count(input_errors) > 0
} else := concat("", ["denied by ", _names(blocking)]) if {
	count(blocking) > 0
} else := concat("", ["allowed by ", _names(allowing)]) if {
	count(allowing) > 0
} else := "denied by default: no rule covers the source" if {
	not src_key
} else := "denied by default: no rule covers the destination" if {
	not dst_key
} else := "denied by default: no allow rule matched"

_names(ids) := concat(", ", [s |
	some i in ids
	r := data.seg.rules[i]
	s := concat("", [r.label, " (", r.location, ")"])
])

# ---- matching rules -------------------------------------------------------

# Allow rules that match: every test positive.
allowing contains i if {
	some i in _candidates(data.seg.index.allow)
	r := data.seg.rules[i]
	_service_ok(r.services)
	_live(r)
	_holds(r.when)
}

# Deny rules that apply: unless the rule is known to have expired or its
# condition is known to fail.
blocking contains i if {
	some i in _candidates(data.seg.index.deny)
	r := data.seg.rules[i]
	_service_ok(r.services)
	not _expired(r)
	not _fails(r.when)
}

# Rules whose sets hold both endpoints, by lookups only.
_candidates(ix) := ((pairs | by_src) | by_dst) if {
	pairs := {i | some i in ix.pairs[src_key][dst_key]}
	by_src := {i |
		some i in ix.by_src[src_key]
		data.seg.sets[data.seg.rules[i].dst][dst_key]
	}
	by_dst := {i |
		some i in ix.by_dst[dst_key]
		data.seg.sets[data.seg.rules[i].src][src_key]
	}
}

_service_ok(s) if {
	protocol in {"tcp", "udp", "sctp"}
	some r in s[protocol]
	r[0] <= input.port
	input.port <= r[1]
}

_service_ok(s) if {
	protocol in {"icmp", "other"}
	s[protocol] == true
}

_live(r) if r.not_after == null

_live(r) if {
	is_number(r.not_after)
	now_ns < r.not_after
}

_expired(r) if {
	is_number(r.not_after)
	now_ns >= r.not_after
}

# ---- conditions: [[literal, ...], ...], null = unconditional ---------------

_holds(w) if w == null

_holds(w) if {
	is_array(w)
	some clause in w
	every lit in clause {
		_lit_holds(lit)
	}
}

_fails(w) if {
	is_array(w)
	every clause in w {
		some lit in clause
		_lit_fails(lit)
	}
}

_lit_holds(l) if {
	l.negated == false
	_atom_holds(l.atom)
}

_lit_holds(l) if {
	l.negated == true
	_atom_fails(l.atom)
}

_lit_fails(l) if {
	l.negated == false
	_atom_fails(l.atom)
}

_lit_fails(l) if {
	l.negated == true
	_atom_holds(l.atom)
}

_atom_holds(a) if {
	a.kind == "time"
	some r in a["in"]
	r[0] <= minute
	minute < r[1]
}

_atom_fails(a) if {
	a.kind == "time"
	some r in a.out
	r[0] <= minute
	minute < r[1]
}

_atom_holds(a) if {
	a.kind == "days"
	a.days[weekday] == true
}

_atom_fails(a) if {
	a.kind == "days"
	a.days[weekday] == false
}

_atom_holds(a) if {
	a.kind == "mtls"
	mtls == true
}

_atom_fails(a) if {
	a.kind == "mtls"
	mtls == false
}

# request.* and context.*: a missing value fails every test.
_atom_holds(a) if {
	a.kind == "value"
	v := input[a.source][a.name]
	_test_holds(a.test, v)
}

_atom_fails(a) if {
	a.kind == "value"
	not _present(a.source, a.name)
}

_atom_fails(a) if {
	a.kind == "value"
	v := input[a.source][a.name]
	_test_fails(a.test, v)
}

_present(source, name) if {
	_ = input[source][name]
}

_test_holds(t, v) if {
	t.op == "in"
	v in t.values
}

_test_fails(t, v) if {
	t.op == "in"
	not v in t.values
}

_test_holds(t, v) if {
	t.op == "glob"
	is_string(v)
	_glob(t.glob, v)
}

_test_fails(t, v) if {
	t.op == "glob"
	not is_string(v)
}

_test_fails(t, v) if {
	t.op == "glob"
	is_string(v)
	not _glob(t.glob, v)
}

_test_holds(t, v) if {
	t.op == "is_true"
	v == true
}

_test_fails(t, v) if {
	t.op == "is_true"
	v != true
}

_test_holds(t, _) if t.op == "present"

# `*` is any run of characters: the literal prefix and suffix, and the
# pieces between in order, each found leftmost (exact for literal pieces).
_glob(g, v) if v == g.exact

_glob(g, v) if {
	startswith(v, g.prefix)
	endswith(v, g.suffix)
	n := (count(v) - count(g.prefix)) - count(g.suffix)
	n >= 0
	_glob_pieces(g.middle, substring(v, count(g.prefix), n))
}

# ---- the flow -------------------------------------------------------------

# The key of an endpoint in data.seg.sets and data.seg.index: `id:<name>` for
# an inventory identity (by principal), else `net:<n>` for its address class.
src_key := _endpoint_key(input.source)

dst_key := _endpoint_key(input.destination)

_endpoint_key(ep) := k if {
	k := _identity_key(ep)
} else := k if {
	k := _address_key(ep.address)
}

_identity_key(ep) := concat("", ["id:", name]) if {
	is_string(ep.principal)
	name := data.seg.principals[ep.principal]
}

_address_key(a) := k if {
	h := _v4_hex(a)
	some n in data.seg.addresses.v4_lengths
	k := data.seg.addresses.v4[substring(h, 0, n)]
}

_address_key(a) := k if {
	h := _v6_hex(a)
	some n in data.seg.addresses.v6_lengths
	k := data.seg.addresses.v6[substring(h, 0, n)]
}

_octets := data.seg.addresses.octets

# 8 hex digits; undefined unless `a` is a dotted quad of canonical octets.
_v4_hex(a) := concat("", [_octets[p[0]], _octets[p[1]], _octets[p[2]], _octets[p[3]]]) if {
	is_string(a)
	p := split(a, ".")
	count(p) == 4
}

# 32 hex digits; undefined unless `a` is an IPv6 address (`::` and a dotted
# IPv4 tail allowed, no zone).
_v6_hex(a) := h if {
	is_string(a)
	contains(a, ":")
	groups := _v6_groups(lower(_v6_tail(a)))
	count(groups) == 8
	padded := [x | some g in groups; x := _hextet(g)]
	count(padded) == 8
	h := concat("", padded)
}

_v6_tail(a) := a if {
	not contains(a, ".")
} else := out if {
	segs := split(a, ":")
	last := segs[count(segs) - 1]
	o := split(last, ".")
	count(o) == 4
	hx := concat("", [_octets[o[0]], _octets[o[1]], ":", _octets[o[2]], _octets[o[3]]])
	out := concat("", [substring(a, 0, count(a) - count(last)), hx])
}

_v6_groups(a) := split(a, ":") if {
	not contains(a, "::")
}

_v6_groups(a) := groups if {
	halves := split(a, "::")
	count(halves) == 2
	head := _v6_side(halves[0])
	tail := _v6_side(halves[1])
	n := (8 - count(head)) - count(tail)
	n >= 1
	zeros := array.slice(["0", "0", "0", "0", "0", "0", "0", "0"], 0, n)
	groups := array.concat(array.concat(head, zeros), tail)
}

_v6_side(s) := [] if s == ""

_v6_side(s) := split(s, ":") if s != ""

_hextet(g) := concat("", [substring("000", 0, 4 - count(g)), g]) if {
	count(g) >= 1
	count(g) <= 4
	trim(g, "0123456789abcdef") == ""
}

protocol := p if {
	is_string(input.protocol)
	p := _protocol_names[input.protocol]
}

protocol := p if {
	_is_int(input.protocol)
	input.protocol >= 0
	input.protocol <= 255
	p := object.get(_protocol_numbers, format_int(input.protocol, 10), "other")
}

_protocol_names := {"tcp": "tcp", "udp": "udp", "sctp": "sctp", "icmp": "icmp"}

# Numbers of the named protocols count as those protocols (ICMPv6 as icmp).
_protocol_numbers := {"1": "icmp", "6": "tcp", "17": "udp", "58": "icmp", "132": "sctp"}

mtls := object.get(input, "mtls", false)

_has_now if {
	_ = input.now
}

# The instant to decide at: input.now when given, else the clock.
now_ns := time.parse_rfc3339_ns(input.now) if {
	_has_now
	is_string(input.now)
}

now_ns := time.now_ns() if not _has_now

# Minute of the UTC day, and UTC weekday with Monday = 0.
minute := (c[0] * 60) + c[1] if {
	now_ns >= 0
	c := time.clock(now_ns)
}

weekday := _weekdays[time.weekday(now_ns)] if {
	now_ns >= 0
}

_weekdays := {"Monday": 0, "Tuesday": 1, "Wednesday": 2, "Thursday": 3, "Friday": 4, "Saturday": 5, "Sunday": 6}

_is_int(x) if {
	is_number(x)
	floor(x) == x
}

# ---- malformed input --------------------------------------------------------

input_errors contains "input must be an object" if not is_object(input)

input_errors contains "`source` must be an object with a `principal` or `address` string" if {
	not _endpoint_ok(input.source)
}

input_errors contains "`destination` must be an object with a `principal` or `address` string" if {
	not _endpoint_ok(input.destination)
}

input_errors contains "`protocol` must be `tcp`, `udp`, `sctp`, `icmp` or a protocol number" if {
	not protocol
}

input_errors contains "`port` must be an integer from 0 to 65535" if {
	protocol in {"tcp", "udp", "sctp"}
	not _port_ok
}

input_errors contains "`mtls` must be a boolean" if {
	_ = input.mtls
	not is_boolean(input.mtls)
}

input_errors contains "`request` must be an object of strings `method` and `path`" if {
	_ = input.request
	not _request_ok
}

input_errors contains "`context` must be an object" if {
	_ = input.context
	not is_object(input.context)
}

input_errors contains msg if {
	is_object(input.context)
	some name, v in input.context
	t := data.seg.contexts[name]
	not _context_ok(t, v)
	msg := concat("", ["`context.", name, "` does not have its declared type"])
}

input_errors contains "`now` must be an RFC 3339 instant after 1970" if {
	_has_now
	not _now_ok
}

_endpoint_ok(ep) if {
	is_object(ep)
	_optional_string(ep, "principal")
	_optional_string(ep, "address")
	count({k | some k in ["principal", "address"]; _ = ep[k]}) > 0
	_address_ok(ep)
}

_address_ok(ep) if not _present_in(ep, "address")

_address_ok(ep) if _v4_hex(ep.address)

_address_ok(ep) if _v6_hex(ep.address)

_optional_string(obj, k) if not _present_in(obj, k)

_optional_string(obj, k) if is_string(obj[k])

_present_in(obj, k) if {
	_ = obj[k]
}

_port_ok if {
	_is_int(input.port)
	input.port >= 0
	input.port <= 65535
}

_request_ok if {
	is_object(input.request)
	_optional_string(input.request, "method")
	_optional_string(input.request, "path")
}

_context_ok(t, v) if {
	t.type == "string"
	is_string(v)
}

_context_ok(t, v) if {
	t.type == "int"
	_is_int(v)
}

_context_ok(t, v) if {
	t.type == "bool"
	is_boolean(v)
}

_context_ok(t, v) if {
	t.type == "enum"
	is_string(v)
	v in t.values
}

_now_ok if {
	is_string(input.now)
	now_ns >= 0
}
