# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# tests/lib/status-truth.sh: does `vpnpolicyctl status` tell the truth? Source it after common.sh.
#
#   truth_check "after the flap" "$NS"          # two checks: status = kernel, health = objects
#   check "after link down: status agrees with the kernel" status_truthful_within 3000 "$NS"
#   status_truth NS [FILE]     prints each disagreement (status and kernel, health and objects), exit 1
#                              if there is any; FILE: a status document saved earlier instead of asking now
#   agent_barrier NS           returns once the agent has handled every netlink event sent before the call
#
# The agent's status lists every object it wants or holds, each with "present" (the kernel holds it as
# wanted) in the notation of object_to_string() (lib/object.c). The kernel's side is rebuilt in the same
# notation from `ip -j -N` output: our protocol (211), in table TRUTH_TABLE (default 200), and the rules
# that point at it. Both ways: every object status calls present is in the kernel with that content, and
# every object of ours in the kernel is one that status calls present.

[[ -n ${_VPT_SOURCED:-} ]] || { echo "status-truth.sh: source common.sh first" >&2; exit 1; }
[[ -n ${_STATUS_TRUTH_SOURCED:-} ]] && return 0
_STATUS_TRUTH_SOURCED=1

TRUTH_TABLE=${TRUTH_TABLE:-200}

# status_json NS: `vpnpolicyctl status --json`, which exits 3 when degraded: that is an answer too.
status_json() {
        local rc=0
        ctl "$1" status --json || rc=$?
        ((rc == 0 || rc == 3))
}

# truth_kernel NS [TABLE]: our rules and routes of TABLE in the kernel, one line each, sorted.
truth_kernel() {
        local ns=$1 table=${2:-$TRUTH_TABLE} fam
        for fam in 4 6; do
                { ip -n "$ns" -N -j -d -"$fam" route show table "$table" 2>/dev/null || echo '[]'; } | jq -r --arg fam "$fam" --arg t "$table" '
                        .[] | select(.protocol == "211") |
                        ({"1": "", "6": "blackhole ", "7": "unreachable ", "8": "prohibit "}[.type] // "other ")
                        + (if .dst == "default" then "default" elif (.dst | contains("/")) then .dst
                           else .dst + (if $fam == "4" then "/32" else "/128" end) end)
                        + (if .gateway then " via " + .gateway else "" end)
                        + (if .prefsrc then " src " + .prefsrc else "" end)
                        + (if .dev and .type == "1" then " dev " + .dev else "" end)
                        + (if ((.flags // []) | index("onlink")) then " onlink" else "" end)
                        + " table " + $t + " metric " + ((.metric // 0) | tostring) + " proto 211"'
                ip -n "$ns" -N -j -"$fam" rule show | jq -r --arg fam "$fam" --arg t "$table" '
                        .[] | select(.protocol == "211" and .table == $t) |
                        "from " + (if .iif then "all iif " + .iif elif .src == "all" then "all"
                                   else .src + "/" + ((.srclen // (if $fam == "4" then 32 else 128 end)) | tostring) end)
                        + " lookup " + $t + " pref " + (.priority | tostring) + " proto 211"'
        done | sort
}

# truth_status NS [TABLE]: the objects of TABLE that status calls present, one line each, sorted. (A route
# that is not unicast has no device worth comparing: the kernel shows v6 ones on lo.) With TRUTH_STATUS_FILE
# set, the status document is read from there instead of asked for.
_truth_document() {
        if [[ -n ${TRUTH_STATUS_FILE:-} ]]; then
                cat "$TRUTH_STATUS_FILE"
        else
                status_json "$1"
        fi
}
truth_status() {
        local ns=$1 table=${2:-$TRUTH_TABLE}
        _truth_document "$ns" | jq -r --arg t "$table" '
                .objects[] | select(.present) | .object
                | select(contains(" table " + $t + " ") or contains(" lookup " + $t + " "))
                | if test("^(unreachable|blackhole|prohibit) ") then sub(" dev [^ ]+"; "") else . end' | sort
}

_truth_agree() {
        local k s
        k=$(truth_kernel "$@") || return 1
        s=$(truth_status "$@") || return 1
        [[ $k == "$s" ]]
}

# _truth_health NS: the health status reports is what its objects say: healthy exactly when every wanted
# object is present, a tunnel's routes waiting for their device to come up excepted (api.c record_healthy()).
_truth_health() {
        _truth_document "$1" | jq -e '
                ([.objects[] | select(.role != "stale")
                  | .present or (.blocked == "the device is down" and (.role == "tun-route" or .role == "mirror-route"))]
                 | all) as $ok
                | .health == (if $ok then "healthy" else "degraded" end)' >/dev/null
}

# truth_check WHAT NS [TABLE]: two checks, "WHAT: status and kernel agree" (after up to TRUTH_WAIT_MS,
# default 3000, for the agent to converge; the difference is shown when they do not) and "WHAT: health
# follows the objects".
truth_check() {
        local what=$1 ns=$2 table=${3:-$TRUTH_TABLE}
        if wait_until "${TRUTH_WAIT_MS:-3000}" _truth_agree "$ns" "$table"; then
                _vpt_pass "$what: status and kernel agree"
        else
                _vpt_fail "$what: status and kernel agree" "- kernel, + status" \
                        "$(diff <(truth_kernel "$ns" "$table") <(truth_status "$ns" "$table") | grep '^[<>]' |
                           sed 's/^</-/; s/^>/+/')"
        fi
        check "$what: health follows the objects" _truth_health "$ns"
}

# health NS: the health status reports
health() { status_json "$1" | jq -r .health; }

# status_truth NS [FILE]: every disagreement between what status says (now, or the document in FILE) and
# what the kernel holds, one line each ("- " the kernel has it and status does not call it present, "+ "
# status calls it present and the kernel does not have it), and whether the health follows the objects.
# Exit 1 if there is any.
status_truth() {
        local ns=$1 diffs ok=0
        local TRUTH_STATUS_FILE=${2:-}
        diffs=$(diff <(truth_kernel "$ns") <(truth_status "$ns") | grep '^[<>]' | sed 's/^</-/; s/^>/+/')
        [[ -z $diffs ]] || { echo "$diffs"; ok=1; }
        _truth_health "$ns" || { echo "health does not follow the objects"; ok=1; }
        return "$ok"
}

# status_truthful_within MS NS: polls status_truth until it holds (the agent may lag the kernel by an event
# or two), at most MS ms; prints the last disagreements on failure.
status_truthful_within() {
        local ms=$1 ns=$2
        wait_until "$ms" status_truth "$ns" >/dev/null && return 0
        status_truth "$ns"
}

# agent_barrier NS: returns once the agent in NS has handled every netlink event sent before the call
# (they come in order): its first IPv4 source rule is deleted and must come back (a restore). Fails after
# CONVERGE_MS (default 3000).
agent_barrier() {
        local ns=$1 rule pref src
        rule=$(ip -n "$ns" -j -4 rule show | jq -r '[.[] | select((.protocol == "211" or .protocol == "vpnpolicy")
                                                                  and .iif == null and .srclen != null)][0]
                | select(. != null) | "\(.priority) \(.src)/\(.srclen)"')
        [[ -n $rule ]] || { echo "agent_barrier: no IPv4 source rule of the agent in $ns" >&2; return 1; }
        read -r pref src <<<"$rule"
        ip -n "$ns" rule del pref "$pref" from "$src" || return 1
        wait_until "${CONVERGE_MS:-3000}" _vpt_rule_there "$ns" "$pref" "$src" ||
                { echo "agent_barrier: the rule $pref from $src did not come back" >&2; return 1; }
}
_vpt_rule_there() {
        ip -n "$1" -j -4 rule show | jq -e --argjson p "$2" --arg s "$3" \
                'any(.[]; .priority == $p and "\(.src)/\(.srclen)" == $s and (.protocol == "211" or .protocol == "vpnpolicy"))' >/dev/null
}
