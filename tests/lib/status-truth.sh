# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# tests/lib/status-truth.sh: does `vpnpolicyctl status` tell the truth? Source it after common.sh.
#
#   truth_check "after the flap" "$NS"          # two checks: status = kernel, health = objects
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
# that is not unicast has no device worth comparing: the kernel shows v6 ones on lo.)
truth_status() {
        local ns=$1 table=${2:-$TRUTH_TABLE}
        status_json "$ns" | jq -r --arg t "$table" '
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
        status_json "$1" | jq -e '
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
