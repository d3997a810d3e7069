//! `seg-apply.sh`: how a host goes from the ruleset it runs to the one just
//! built, leaving exactly the new one and touching nothing seg does not own.
//!
//! seg owns, in the filter table, the entry chains `seg-input` and
//! `seg-output`, the chains they jump to, and the jumps to them from INPUT
//! and OUTPUT; and the sets named `seg4-`/`seg6-` + 24 hex digits. A rules
//! file declares its chains (which `iptables-restore --noflush` flushes and
//! refills) but cannot name the chains an older version had, which only the
//! host knows: the script reads them from `iptables-save` (the targets of
//! seg-input's and seg-output's jumps that the new file does not declare) and
//! deletes them in the same restore, one transaction. Sets are loaded before
//! (the new rules refer to them) and seg's sets the new version does not use
//! are destroyed after (a set cannot go while a rule uses it).
//!
//! A host without IPv6 rules of its own loads the shared IPv6 file: its
//! `<stem>.rules` says so in a header line, and the script refuses to change
//! anything unless the host's IPv4 file and the IPv6 file it names are both
//! there and from the same build (a host left without seg's IPv6 chains would
//! accept every IPv6 flow).
//!
//! The script is the same for every host and every build, apart from its
//! header; every name it acts on is checked against seg's naming first.

use crate::model::{HOOK_COMMENT, SEG_INPUT, SEG_OUTPUT};
use crate::names::{SHARED_IP6, SHARED_IP6_LINE};

/// The file name, in the target folder.
pub const APPLY_SCRIPT: &str = "seg-apply.sh";

/// The script, headed by `header` (`#` lines).
pub fn script(header: &[String]) -> String {
    let mut out = String::from("#!/bin/sh\n");
    for line in header {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(
        &BODY
            .replace("@SEG_INPUT@", SEG_INPUT)
            .replace("@SEG_OUTPUT@", SEG_OUTPUT)
            .replace("@HOOK@", HOOK_COMMENT)
            .replace("@SHARED_IP6_LINE@", SHARED_IP6_LINE)
            .replace("@SHARED_IP6@", SHARED_IP6),
    );
    out
}

const BODY: &str = r##"#
# Apply the rules of one host, as root on that host:
#
#   sh seg-apply.sh HOST [DIR]
#   sh seg-apply.sh --remove     (take seg off a host the policy no longer manages)
#
# HOST is the file stem (HOST.rules, HOST.ip6.rules, HOST.ipset), DIR the
# folder holding them (default: this script's). A host without IPv6 rules of
# its own has no HOST.ip6.rules: its HOST.rules names @SHARED_IP6@, the
# base rules every such host shares. Nothing is changed unless HOST.rules and
# its IPv6 file are both in DIR and from the same build. IPTABLES and
# IP6TABLES name other variants of the tools (e.g. IPTABLES=iptables-legacy).
#
# 1. ipset restore -exist < HOST.ipset: the new version's sets (named after
#    their members: an existing set of that name already holds them);
# 2. per address family, one iptables-restore --noflush: the new version's
#    chains (declaring a chain flushes it), the jumps from INPUT and OUTPUT
#    unless they are there, and -F/-X of every chain @SEG_INPUT@ or
#    @SEG_OUTPUT@ jumped to that the new version does not declare. One
#    transaction: no packet sees a mix of versions. No other chain or rule
#    of the table is named, so none is touched;
# 3. ipset destroy of every seg4-/seg6- set the new version does not use.
#
# --remove deletes, per family in one iptables-restore --noflush, the jumps
# from INPUT and OUTPUT, @SEG_INPUT@, @SEG_OUTPUT@ and every chain they jump
# to, then destroys every seg4-/seg6- set: the host is left as seg found it.
set -eu

v4=${IPTABLES:-iptables}
v6=${IP6TABLES:-ip6tables}

# $1: the family's tool prefix (iptables, ip6tables). Deletes all of seg.
remove() {
	live=$("$1-save" -t filter)
	printf '%s\n' "$live" | awk '
		BEGIN { print "*filter" }
		$1 == "-A" && ($2 == "INPUT" || $2 == "OUTPUT") && $(NF - 1) == "-j" && ($NF == "@SEG_INPUT@" || $NF == "@SEG_OUTPUT@") {
			$1 = "-D"
			print
		}
		$1 == "-A" && ($2 == "@SEG_INPUT@" || $2 == "@SEG_OUTPUT@") && $(NF - 1) == "-j" && $NF ~ /^[A-Za-z0-9_.-]+$/ && $NF != "ACCEPT" && $NF != "DROP" { target[$NF] = 1 }
		$1 == ":@SEG_INPUT@" || $1 == ":@SEG_OUTPUT@" { entry[substr($1, 2)] = 1 }
		END {
			for (e in entry) print "-F " e
			for (t in target) print "-F " t
			for (e in entry) print "-X " e
			for (t in target) print "-X " t
			print "COMMIT"
		}' | "$1-restore" --noflush
}

if [ "${1:-}" = --remove ]; then
	remove "$v4"
	remove "$v6"
	if command -v ipset >/dev/null 2>&1; then
		ipset list -n | grep -E '^seg[46]-[0-9a-f]{24}$' | while read -r set; do
			ipset destroy "$set"
		done
	fi
	exit 0
fi

host=${1:?usage: sh seg-apply.sh HOST [DIR] | sh seg-apply.sh --remove}
dir=${2:-$(dirname -- "$0")}
case $host in
'' | */* | .*)
	echo "seg-apply: not a host file name: $host" >&2
	exit 2
	;;
esac

# $1: the restore tool's family prefix (iptables, ip6tables), $2: the rules file.
apply() {
	if [ ! -f "$2" ]; then
		echo "seg-apply: no file $2" >&2
		exit 2
	fi
	# What the host runs: the chains the entry chains jump to, whether the
	# jumps from INPUT and OUTPUT (comment "@HOOK@") exist. What the file
	# declares: its chains.
	live=$("$1-save" -t filter)
	plan=$({
		cat -- "$2"
		echo '#--live--'
		printf '%s\n' "$live"
	} | awk '
		$0 == "#--live--" { live = 1; next }
		!live && /^:/ { declared[substr($1, 2)] = 1; next }
		!live { next }
		$1 == "-A" && ($2 == "@SEG_INPUT@" || $2 == "@SEG_OUTPUT@") && $(NF - 1) == "-j" { target[$NF] = 1 }
		$1 == "-A" && $2 == "INPUT" && $(NF - 1) == "-j" && $NF == "@SEG_INPUT@" { print "hooked INPUT" }
		$1 == "-A" && $2 == "OUTPUT" && $(NF - 1) == "-j" && $NF == "@SEG_OUTPUT@" { print "hooked OUTPUT" }
		END {
			for (t in target)
				if (!(t in declared) && t != "ACCEPT" && t != "DROP" && t ~ /^[A-Za-z0-9_.-]+$/)
					print "prune " t
		}')
	hooked_in=0
	hooked_out=0
	case $plan in *"hooked INPUT"*) hooked_in=1 ;; esac
	case $plan in *"hooked OUTPUT"*) hooked_out=1 ;; esac
	{
		awk -v hin="$hooked_in" -v hout="$hooked_out" '
			$0 == "COMMIT" { exit }
			hin && /^-I INPUT 1 .* -j @SEG_INPUT@$/ { next }
			hout && /^-I OUTPUT 1 .* -j @SEG_OUTPUT@$/ { next }
			{ print }' "$2"
		printf '%s\n' "$plan" | sed -n 's/^prune //p' | sort | while read -r chain; do
			printf -- '-F %s\n-X %s\n' "$chain" "$chain"
		done
		echo COMMIT
	} | "$1-restore" --noflush
}

# Both families' files and the address sets, checked before anything
# changes: a missing or foreign file must not leave a host with this build's
# IPv4 rules and not its IPv6 ones. (A restore failing later, a tool missing,
# stops the script, set -e, with what it applied so far.) Only a file's header
# is read (the lines before *filter, or before the first set): a rule's notes
# are user text.
header() {
	sed '/^\*filter$/q' "$1"
}
rules="$dir/$host.rules"
if [ ! -f "$rules" ]; then
	echo "seg-apply: no file $rules (nothing applied)" >&2
	exit 2
fi
rules6="$dir/$host.ip6.rules"
if header "$rules" | grep -qxF -- '# @SHARED_IP6_LINE@'; then
	rules6="$dir/@SHARED_IP6@"
fi
if [ ! -f "$rules6" ]; then
	echo "seg-apply: no file $rules6, the IPv6 rules of $host (nothing applied)" >&2
	exit 2
fi
meaning=$(header "$rules" | sed -n 's/^# meaning: //p')
if [ -z "$meaning" ] || [ "$(header "$rules6" | sed -n 's/^# meaning: //p')" != "$meaning" ]; then
	echo "seg-apply: $rules6 and $rules are not from the same build (nothing applied)" >&2
	exit 2
fi
# The address sets too: another build's would miss sets the rules name, and a
# restore failing halfway leaves the families from different builds.
sets="$dir/$host.ipset"
if [ -f "$sets" ] && [ "$(sed -n '/^[^#]/q; s/^# meaning: //p' "$sets")" != "$meaning" ]; then
	echo "seg-apply: $sets and $rules are not from the same build (nothing applied)" >&2
	exit 2
fi

if [ -f "$sets" ]; then
	ipset restore -exist <"$sets"
fi
apply "$v4" "$rules"
apply "$v6" "$rules6"
if command -v ipset >/dev/null 2>&1; then
	keep=$(sed -n 's/^create \(seg[46]-[0-9a-f]*\) .*/\1/p' "$sets" 2>/dev/null || true)
	ipset list -n | grep -E '^seg[46]-[0-9a-f]{24}$' | while read -r set; do
		if ! printf '%s\n' "$keep" | grep -qxF "$set"; then
			ipset destroy "$set"
		fi
	done
fi
"##;
