# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# tests/lib/status-truth.sh: does `vpnpolicyctl status --json` tell the truth about the kernel? Source it
# after common.sh.
#
#   check "after link down: status agrees with the kernel" status_truthful_within 3000 "$NS"
#
# The comparison, per family, over the agent's own objects (protocol 211) in its table (the status'
# .config.table.id) and its rules:
#   - an object status calls present is in the kernel with that key (rule: preference and source; route:
#     destination and metric, the kernel's identity of a route in a table) and the same content (type,
#     and the gateway and device where the status names them);
#   - an object status calls absent is not in the kernel with that content;
#   - every such object the kernel holds is in the status, as present (also the "stale" ones).
# Objects are matched by what the status' "object" text says in iproute2 notation (docs/status-schema.md
# calls it display text; these tests read it nonetheless, there is no structured identity yet).
#
#   status_truth NS [FILE]     prints each disagreement, one line each; exit 1 if there is any (FILE: a
#                              status document saved earlier instead of asking the agent now)
#   status_truthful_within MS NS   polls status_truth until it holds (the agent may lag the kernel by an
#                              event or two), at most MS ms; prints the last disagreements on failure

[[ -n ${_VPT_SOURCED:-} ]] || { echo "status-truth.sh: source common.sh first" >&2; exit 1; }
[[ -n ${_STATUS_TRUTH_SOURCED:-} ]] && return 0
_STATUS_TRUTH_SOURCED=1

# One jq program over the status document and the kernel's rules and routes (both families, every table:
# ours is the status' .config.table.id), so a comparison costs 5 commands and one jq.
_VPT_TRUTH_JQ='
        def ours: .protocol == "211" or .protocol == "vpnpolicy";
        def norm: if . == "default" or test("/") then . elif test(":") then "\(.)/128" else "\(.)/32" end;
        def krules($f): .[] | select(ours)
                | {kind: "rule", family: $f,
                   key: "pref \(.priority) from \(if (.src // "all") == "all" then "all" else "\(.src)/\(.srclen)" end)",
                   text: "from \(.src // "all")\(if .srclen then "/\(.srclen)" else "" end) lookup \(.table) pref \(.priority)"};
        def kroutes($f; $t; $tname): .[] | select(ours and (((.table // "main") | tostring) as $x | $x == $t or $x == $tname))
                | {kind: "route", family: $f, key: "\(.dst | norm) metric \(.metric // 0)",
                   type: (.type // "unicast"), gateway, dev,
                   text: "\(.type // "") \(.dst)\(if .gateway then " via \(.gateway)" else "" end) dev \(.dev // "-") metric \(.metric // 0)"};
        def sobjects: .objects[]
                | if .kind == "rule" then
                        (.object | capture("^from (?<src>\\S+) lookup (?<table>\\d+) pref (?<pref>\\d+)")) as $m
                        | {kind, family, role, present, text: .object, key: "pref \($m.pref) from \($m.src)"}
                  else
                        (.object | capture("^(?:(?<type>unreachable|blackhole|prohibit|other) )?(?<dst>\\S+)(?: via (?<gw>\\S+))?(?: src \\S+)?(?: dev (?<dev>\\S+))?(?: onlink)? table (?<table>\\d+) metric (?<metric>\\d+)")) as $m
                        | {kind, family, role, present, text: .object, key: "\($m.dst) metric \($m.metric)",
                           type: ($m.type // "unicast"), gateway: $m.gw,
                           dev: (if $m.dev == null or ($m.dev | startswith("#")) then null else $m.dev end)}
                  end;
        def same($o): .kind == $o.kind and .family == $o.family and .key == $o.key;
        def content($o): $o.kind == "rule" or
                (.type == $o.type and ($o.gateway == null or .gateway == $o.gateway) and ($o.dev == null or .dev == $o.dev));
        ($status.config.table.id | tostring) as $t | ($status.config.table.name // "") as $tname
        | [($r4 | krules("ipv4")), ($r6 | krules("ipv6")), ($t4 | kroutes("ipv4"; $t; $tname)), ($t6 | kroutes("ipv6"; $t; $tname))] as $k
        | [$status | sobjects] as $s
        | ($s[] | select(.present) | . as $o | select([$k[] | select(same($o) and content($o))] | length == 0)
           | "status says present, the kernel lacks it: \(.family) \(.role) \(.text)"),
          ($s[] | select(.present | not) | . as $o | select([$k[] | select(same($o) and content($o))] | length > 0)
           | "status says absent, the kernel has it: \(.family) \(.role) \(.text)"),
          ($k[] | . as $h | select([$s[] | select(.present and .kind == $h.kind and .family == $h.family and .key == $h.key)] | length == 0)
           | "the kernel has it, status does not say present: \(.family) \(.kind) \(.text)")'

status_truth() {
        local ns=$1 d out
        d=$(mktemp -d "$T/truth.XXXXXX") || return 1
        if [[ -n ${2:-} ]]; then
                cp "$2" "$d/status"
        elif ! ctl "$ns" status --json >"$d/status" 2>/dev/null && [[ ! -s $d/status ]]; then
                rm -rf "$d"
                echo "no status from the agent"
                return 1
        fi
        # files, not arguments: the kernel may hold 100,000 routes
        if ! { ip -n "$ns" -j -4 rule show >"$d/r4" && ip -n "$ns" -j -6 rule show >"$d/r6" &&
                ip -n "$ns" -j -4 route show table all >"$d/t4" && ip -n "$ns" -j -6 route show table all >"$d/t6"; }; then
                rm -rf "$d"
                echo "cannot read the kernel's rules and routes"
                return 1
        fi
        out=$(jq -rn --slurpfile status "$d/status" --slurpfile r4 "$d/r4" --slurpfile r6 "$d/r6" \
                --slurpfile t4 "$d/t4" --slurpfile t6 "$d/t6" \
                '$status[0] as $status | $r4[0] as $r4 | $r6[0] as $r6 | $t4[0] as $t4 | $t6[0] as $t6 | '"$_VPT_TRUTH_JQ" 2>&1) ||
                out="the comparison failed: $out"
        rm -rf "$d"
        [[ -z $out ]] || { echo "$out"; return 1; }
}

status_truthful_within() {
        local ms=$1 ns=$2
        wait_until "$ms" status_truth "$ns" && return 0
        status_truth "$ns"
}

# agent_barrier NS: returns once the agent in NS has handled every netlink event sent before the call
# (they come in order): its first IPv4 source rule is deleted and must come back (a restore). Fails after
# CONVERGE_MS (default 3000).
agent_barrier() {
        local ns=$1 rule pref src
        rule=$(ip -n "$ns" -j -4 rule show | jq -r '[.[] | select(.protocol == "211" or .protocol == "vpnpolicy")][0]
                | select(. != null) | "\(.priority) \(.src)/\(.srclen)"')
        [[ -n $rule ]] || { echo "agent_barrier: no IPv4 rule of the agent in $ns" >&2; return 1; }
        read -r pref src <<<"$rule"
        ip -n "$ns" rule del pref "$pref" from "$src" || return 1
        wait_until "${CONVERGE_MS:-3000}" _vpt_rule_there "$ns" "$pref" "$src" ||
                { echo "agent_barrier: the rule $pref from $src did not come back" >&2; return 1; }
}
_vpt_rule_there() {
        ip -n "$1" -j -4 rule show | jq -e --argjson p "$2" --arg s "$3" \
                'any(.[]; .priority == $p and "\(.src)/\(.srclen)" == $s and (.protocol == "211" or .protocol == "vpnpolicy"))' >/dev/null
}
