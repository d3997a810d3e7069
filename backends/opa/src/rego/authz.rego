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
# makes an allow not match and a deny still apply. The hot path (`allow`) is
# kept to few steps: two endpoint lookups, the candidate rules of the pair,
# and checks on those only. In regorus' register VM a rule or function call
# costs several times a step in a body, so `allow` is one body with few
# calls, puts a failing test first in every alternative definition, and
# checks the input only once an allow rule matched (a default deny skips it).

default allow := false

# `allowing` is non-empty, the input is valid (the checks of `input_errors`
# on the fields the endpoints and the port leave) and `blocking` is empty:
# the tests of `decision`, as one body. `cands` are the rules whose sets
# hold both endpoints, before the port filter of `_hits`; protocol and port
# are read only once a candidate is an allow rule, so a pair without
# candidates costs the two endpoint lookups and little more. A plain
# candidate (`plain` is a boolean in every record) admits the flow without
# the call to `_admits`: the `every` runs over nothing; likewise an allow
# candidate needs no call to `_blocks`.
#
# Three bodies, by the shape of the flow. The first two are the common
# shapes decided inline, without calls to `_src`, `_dst`, `_protocol` or
# `port` (a call costs the register VM several times a step): both
# endpoints by principal, and an IPv4 client without a principal to a
# principal, each with a protocol named by a string that has ports. The
# third hands every other shape (an address elsewhere, a principal that is
# unknown, a protocol number or one without ports) to `_other`, a rule of
# its own because the VM clears a rule's whole register window, sized for
# its largest definition, before trying each one. Each body is exact for
# the flows it accepts, so a flow that reaches more than one gets the same
# answer from each. The bodies are identical from the `_admits` gate on
# (a unit test checks it).
allow if {
	ps := input.source.principal
	is_string(ps)
	s := data.seg.principals[ps]
	pd := input.destination.principal
	is_string(pd)
	d := data.seg.principals[pd]
	cands := array.concat(
		object.get(data.seg.index.pairs, [s.key, d.key], []),
		[c |
			some a in s.src
			some b in d.dst
			some c in object.get(data.seg.index.set_pairs, [a, b], [])
		],
	)
	some c in cands
	c.allow == true
	pi := data.seg.protocols[input.protocol]
	pi.ports == true
	pt := input.port
	floor(pt) == pt
	pr := pi.name
	some r in object.get(c.ports, pr, [])
	r[0] <= pt
	pt <= r[1]
	every _ in {false: [0], true: []}[c.plain] {
		_admits(c)
	}
	is_boolean(object.get(input, "mtls", false))
	req := object.get(input, "request", {})
	is_object(req)
	is_string(object.get(req, "method", ""))
	is_string(object.get(req, "path", ""))
	ctx := object.get(input, "context", {})
	is_object(ctx)
	every name, v in ctx {
		_context_value_ok(name, v)
	}
	time.parse_rfc3339_ns(object.get(input, "now", "1970-01-01T00:00:00Z")) >= 0
	every x in cands {
		every _ in {false: [0], true: []}[x.allow] {
			not _blocks(x, pr, pt)
		}
	}
}

# An IPv4 client without a principal, to a principal: the source's class
# found as `_address_class` finds it.
allow if {
	addr := input.source.address
	is_string(addr)
	pd := input.destination.principal
	is_string(pd)
	d := data.seg.principals[pd]
	object.get(input.source, "principal", set()) == set()
	p := split(addr, ".")
	count(p) == 4
	o := data.seg.addresses.octets
	h := concat("", [o[p[0]], o[p[1]], o[p[2]], o[p[3]]])
	some n in data.seg.addresses.v4_lengths
	k := object.get(data.seg.addresses.v4, substring(h, 0, n), null)
	k != null
	s := data.seg.addresses.endpoints[k]
	cands := array.concat(
		object.get(data.seg.index.pairs, [s.key, d.key], []),
		[c |
			some a in s.src
			some b in d.dst
			some c in object.get(data.seg.index.set_pairs, [a, b], [])
		],
	)
	some c in cands
	c.allow == true
	pi := data.seg.protocols[input.protocol]
	pi.ports == true
	pt := input.port
	floor(pt) == pt
	pr := pi.name
	some r in object.get(c.ports, pr, [])
	r[0] <= pt
	pt <= r[1]
	every _ in {false: [0], true: []}[c.plain] {
		_admits(c)
	}
	is_boolean(object.get(input, "mtls", false))
	req := object.get(input, "request", {})
	is_object(req)
	is_string(object.get(req, "method", ""))
	is_string(object.get(req, "path", ""))
	ctx := object.get(input, "context", {})
	is_object(ctx)
	every name, v in ctx {
		_context_value_ok(name, v)
	}
	time.parse_rfc3339_ns(object.get(input, "now", "1970-01-01T00:00:00Z")) >= 0
	every x in cands {
		every _ in {false: [0], true: []}[x.allow] {
			not _blocks(x, pr, pt)
		}
	}
}

# Not one of the shapes above: an address is given, or the protocol is not
# a name with ports. (A `source` or `destination` that is no object raises a
# builtin error here: it is malformed, and an error is no allow.)
allow if {
	[object.get(input.source, "address", null), object.get(input.destination, "address", null), object.get(data.seg.protocols, input.protocol, {"ports": false}).ports] != [null, null, true]
	_other
}

# Any flow, the endpoints found by `_src` and `_dst`; entered only when the
# destination is not a known principal, the source principal is given but
# unknown, the source address is no IPv4 string, or the protocol is not a
# name with ports (otherwise a body of `allow` decided). The input is read
# through a wrapper object, and the address through `type_name`, so that a
# `source` or `address` of another type raises no builtin error.
_other if {
	i := {"i": input}
	sp := object.get(i, ["i", "source", "principal"], set())
	sa := object.get(i, ["i", "source", "address"], null)
	true in [
		object.get(data.seg.principals, object.get(i, ["i", "destination", "principal"], set()), null) == null,
		[sp != set(), object.get(data.seg.principals, sp, null) == null] == [true, true],
		contains(object.get({"string": sa}, type_name(sa), ":"), ":"),
		object.get(data.seg.protocols, object.get(i, ["i", "protocol"], null), {"ports": false}).ports != true,
	]
	s := _src
	d := _dst
	cands := array.concat(
		object.get(data.seg.index.pairs, [s.key, d.key], []),
		[c |
			some a in s.src
			some b in d.dst
			some c in object.get(data.seg.index.set_pairs, [a, b], [])
		],
	)
	some c in cands
	c.allow == true
	pr := _protocol.name
	pt := port
	some r in object.get(c.ports, pr, [])
	r[0] <= pt
	pt <= r[1]
	every _ in {false: [0], true: []}[c.plain] {
		_admits(c)
	}
	is_boolean(object.get(input, "mtls", false))
	req := object.get(input, "request", {})
	is_object(req)
	is_string(object.get(req, "method", ""))
	is_string(object.get(req, "path", ""))
	ctx := object.get(input, "context", {})
	is_object(ctx)
	every name, v in ctx {
		_context_value_ok(name, v)
	}
	time.parse_rfc3339_ns(object.get(input, "now", "1970-01-01T00:00:00Z")) >= 0
	every x in cands {
		every _ in {false: [0], true: []}[x.allow] {
			not _blocks(x, pr, pt)
		}
	}
}

# A deny candidate applies to the flow: its ports hold it, and it is not
# known to have expired nor its condition known to fail (as `blocking`).
_blocks(x, pr, pt) if {
	some q in object.get(x.ports, pr, [])
	q[0] <= pt
	pt <= q[1]
	not _expired(x)
	not _fails(x.when)
}

# An allow rule among the candidates admits the flow: unconditional, or live
# with its condition holding.
_admits(c) if c.plain == true

_admits(c) if {
	c.plain == false
	_live(c)
	_holds(c.when)
}

decision := {
	"allow": allow,
	"matched": [{"rule": i} | some i in (allowing | blocking)],
	"reason": reason,
}

reason := concat("", ["malformed input: ", concat("; ", sort(input_errors))]) if {
	count(input_errors) > 0
} else := concat("", ["denied by ", _names(blocking)]) if {
	count(blocking) > 0
} else := concat("", ["allowed by ", _names(allowing)]) if {
	count(allowing) > 0
} else := "denied by default: no rule covers the source" if {
	not _src
} else := "denied by default: no rule covers the destination" if {
	not _dst
} else := "denied by default: no allow rule matched"

_names(ids) := concat(", ", [i | some i in ids])

# ---- matching rules -------------------------------------------------------

# The match records of every rule whose sets hold both endpoints and whose
# ports admit the flow: small rules listed per (source key, destination key),
# large ones per pair of the large sets the endpoints belong to.
_hits := array.concat(
	[c |
		some c in object.get(data.seg.index.pairs, [_src.key, _dst.key], [])
		some r in object.get(c.ports, protocol, [])
		r[0] <= port
		port <= r[1]
	],
	[c |
		some a in _src.src
		some b in _dst.dst
		some c in object.get(data.seg.index.set_pairs, [a, b], [])
		some r in object.get(c.ports, protocol, [])
		r[0] <= port
		port <= r[1]
	],
)

# Allow rules that match (ids): every test positive.
allowing contains c.rule if {
	some c in _hits
	c.allow == true
	c.plain == true
}

allowing contains c.rule if {
	some c in _hits
	c.allow == true
	c.plain == false
	_live(c)
	_holds(c.when)
}

# Deny rules that apply (ids): unless known to have expired or known to fail.
blocking contains c.rule if {
	some c in _hits
	c.allow == false
	not _expired(c)
	not _fails(c.when)
}

_live(c) if c.not_after == null

_live(c) if {
	is_number(c.not_after)
	now_ns < c.not_after
}

_expired(c) if {
	is_number(c.not_after)
	now_ns >= c.not_after
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

# request.* and context.*: a missing value fails every test. A null value
# counts as missing (it is malformed, so `allow` is false anyway); reading it
# with object.get keeps the test positive even where an undefined lookup is
# mishandled (regorus' register VM).
_atom_holds(a) if {
	a.kind == "value"
	v := _value(a)
	v != null
	_test_holds(a.test, v)
}

_atom_fails(a) if {
	a.kind == "value"
	_value(a) == null
}

_atom_fails(a) if {
	a.kind == "value"
	v := _value(a)
	v != null
	_test_fails(a.test, v)
}

_value(a) := object.get(object.get(input, a.source, {}), a.name, null)

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

# An endpoint: {"key", "src", "dst"} — its key (`id:<name>` for an inventory
# identity, `net:<n>` for an address class) and the large sets it is in as a
# source and as a destination. A known principal wins; else the address.
# (Rules rather than one function of the endpoint: cheaper in the VM. The
# `is_string` guards matter there: its data lookups retry a missing number
# key as a string, so `{"principal": 7}` would find a principal named "7".
# The VM does not stop a body at an undefined `x := <ref>`, so the address
# definitions test `is_string(a)` at once: without it a flow between two
# principals paid for the principal lookup a second time. A principal that
# is absent is looked up as `set()`, which no key equals.)
_src := e if {
	p := input.source.principal
	is_string(p)
	e := data.seg.principals[p]
}

_src := e if {
	a := input.source.address
	is_string(a)
	is_string(object.get(input.source, "principal", ""))
	not data.seg.principals[object.get(input.source, "principal", set())]
	e := data.seg.addresses.endpoints[_address_class(a)]
}

_dst := e if {
	p := input.destination.principal
	is_string(p)
	e := data.seg.principals[p]
}

_dst := e if {
	a := input.destination.address
	is_string(a)
	is_string(object.get(input.destination, "principal", ""))
	not data.seg.principals[object.get(input.destination, "principal", set())]
	e := data.seg.addresses.endpoints[_address_class(a)]
}

src_key := _src.key

dst_key := _dst.key

# Lookups that may miss inside an iteration go through object.get: regorus'
# register VM mishandles an undefined lookup there.
_address_class(a) := k if {
	is_string(a)
	p := split(a, ".")
	count(p) == 4
	o := data.seg.addresses.octets
	h := concat("", [o[p[0]], o[p[1]], o[p[2]], o[p[3]]])
	some n in data.seg.addresses.v4_lengths
	k := object.get(data.seg.addresses.v4, substring(h, 0, n), null)
	k != null
}

_address_class(a) := k if {
	contains(a, ":")
	h := _v6_hex(a)
	some n in data.seg.addresses.v6_lengths
	k := object.get(data.seg.addresses.v6, substring(h, 0, n), null)
	k != null
}

_octets := data.seg.addresses.octets

# 8 hex digits; undefined unless `a` is a dotted quad of canonical octets.
_v4_hex(a) := concat("", [o[p[0]], o[p[1]], o[p[2]], o[p[3]]]) if {
	is_string(a)
	p := split(a, ".")
	count(p) == 4
	o := data.seg.addresses.octets
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

_v6_tail(a) := a if not contains(a, ".")

_v6_tail(a) := out if {
	contains(a, ".")
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

# The protocol, and whether it has ports: by name from data.seg.protocols, by
# number from data.seg.protocol_numbers (any other number is "other").
_protocol := data.seg.protocols[input.protocol] if is_string(input.protocol)

_protocol := p if {
	is_number(input.protocol)
	floor(input.protocol) == input.protocol
	input.protocol >= 0
	input.protocol <= 255
	p := object.get(data.seg.protocol_numbers, format_int(input.protocol, 10), {"name": "other", "ports": false})
}

protocol := _protocol.name

# The destination port; 0 for protocols without ports.
port := p if {
	_protocol.ports == true
	p := input.port
	is_number(p)
	floor(p) == p
	p >= 0
	p <= 65535
}

port := 0 if _protocol.ports == false

mtls := object.get(input, "mtls", false)

# The instant to decide at: input.now when given, else the clock.
now_ns := time.parse_rfc3339_ns(input.now) if is_string(input.now)

# (`set()` is no JSON value: the default stands exactly when `now` is absent.)
now_ns := time.now_ns() if object.get(input, "now", set()) == set()

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

_has(obj, k) if {
	_ = obj[k]
}

# ---- malformed input --------------------------------------------------------

# Every field the decision may read is well formed (`allow` inlines these
# checks). Endpoints are checked by resolving them: one that does not resolve
# matches no rule.
_request_ok if {
	r := object.get(input, "request", {})
	is_object(r)
	is_string(object.get(r, "method", ""))
	is_string(object.get(r, "path", ""))
}

_context_ok if {
	ctx := object.get(input, "context", {})
	is_object(ctx)
	every name, v in ctx {
		_context_value_ok(name, v)
	}
}

# An absent `now` needs no clock reading to be valid.
_now_ok if object.get(input, "now", set()) == set()

_now_ok if {
	is_string(input.now)
	now_ns >= 0
}

# Undeclared context inputs are ignored.
_context_value_ok(name, _) if not _has(data.seg.contexts, name)

_context_value_ok(name, v) if {
	t := data.seg.contexts[name]
	_typed(t, v)
}

_typed(t, v) if {
	t.type == "string"
	is_string(v)
}

_typed(t, v) if {
	t.type == "int"
	_is_int(v)
}

_typed(t, v) if {
	t.type == "bool"
	is_boolean(v)
}

_typed(t, v) if {
	t.type == "enum"
	is_string(v)
	v in t.values
}

_mtls_ok if is_boolean(mtls)

# Why an input is malformed (for `decision.reason`); empty exactly when
# `_valid` holds and both endpoints resolve or are well formed.
input_errors contains "input must be an object" if not is_object(input)

input_errors contains "`source` must be an object with a `principal` string or an IP `address`" if {
	not _src
	not _endpoint_ok(input.source)
}

input_errors contains "`destination` must be an object with a `principal` string or an IP `address`" if {
	not _dst
	not _endpoint_ok(input.destination)
}

input_errors contains "`protocol` must be `tcp`, `udp`, `sctp`, `icmp` or a protocol number" if not protocol

input_errors contains "`port` must be an integer from 0 to 65535" if {
	protocol
	not port
}

input_errors contains "`mtls` must be a boolean" if not _mtls_ok

input_errors contains "`request` must be an object of strings `method` and `path`" if not _request_ok

input_errors contains msg if {
	is_object(input.context)
	some name, v in input.context
	not _context_value_ok(name, v)
	msg := concat("", ["`context.", name, "` does not have its declared type"])
}

input_errors contains "`context` must be an object" if {
	_has(input, "context")
	not is_object(input.context)
}

input_errors contains "`now` must be an RFC 3339 instant after 1970" if not _now_ok

# A well-formed endpoint that resolves to no key is unknown, not malformed.
_endpoint_ok(ep) if {
	is_object(ep)
	is_string(object.get(ep, "principal", ""))
	_has(ep, "principal")
	not _has(ep, "address")
}

_endpoint_ok(ep) if {
	is_object(ep)
	is_string(object.get(ep, "principal", ""))
	_address_ok(ep.address)
}

_address_ok(a) if _v4_hex(a)

_address_ok(a) if _v6_hex(a)
