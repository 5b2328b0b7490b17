# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash disable=SC2034
#
# tests/reliability/lib.sh: sourced by the reliability tests after tests/lib/common.sh.
#
#   source "$(dirname "$0")/../lib/common.sh"
#   source "$(dirname "$0")/lib.sh"
#
# Sizes: every test has a CI size (meson's suite "reliability", a few minutes in all) and the full size
# of the issue (REL_FULL=1, the figures of docs/reliability.md). rel_size CI FULL picks one; a variable of
# the test's own (TRIALS=..., named in its header) overrides both.
#
# Environment (meson sets the first three):
#   RELNL, VLSTRESS   the helpers (default $BUILD/tests/reliability/{relnl,vlstress})
#   HOOK              the OpenVPN up hook (default $BUILD/hooks/vpnpolicy-openvpn-up)
#   REL_FULL=1        full-size run
#   REL_FIGURES=FILE  also append every figure as "TEST NAME VALUE UNIT" to FILE

RELNL=${RELNL:-$BUILD/tests/reliability/relnl}
VLSTRESS=${VLSTRESS:-$BUILD/tests/reliability/vlstress}
HOOK=${HOOK:-$BUILD/hooks/vpnpolicy-openvpn-up}
REL_FULL=${REL_FULL:-}
[[ -x $RELNL ]] || die "no relnl helper at $RELNL (ninja -C $BUILD)"

# rel_size CI FULL: the CI value, or FULL with REL_FULL=1
rel_size() { if [[ -n $REL_FULL ]]; then echo "$2"; else echo "$1"; fi; }

# figure NAME VALUE UNIT: a measured figure, for the CI log and docs/reliability.md
figure() {
        echo "# figure: $1 $2 $3"
        [[ -z ${REL_FIGURES:-} ]] || echo "$TEST_NAME $1 $2 $3" >>"$REL_FIGURES"
}

# us_to_ms US: microseconds as milliseconds with two decimals
us_to_ms() { printf '%d.%02d' $(($1 / 1000)) $((($1 % 1000) / 10)); }

# percentile P < numbers (one a line): the P-th percentile (nearest rank)
percentile() { sort -n | awk -v p="$1" '{ v[NR] = $1 } END { if (NR == 0) { print 0; exit }
        r = int((p / 100) * NR + 0.999999); if (r < 1) r = 1; if (r > NR) r = NR; print v[r] }'; }

# rel_topology NSVAR GWVAR: the seed 003 server namespace (eth1 192.168.1.100, fd00:1010:1010:1010::100,
# forwarding on) and the gateway namespace (192.168.1.1, fd00:1010:1010:1010::1) joined by a veth pair.
rel_topology() {
        ns_new "$1"
        ns_new "$2"
        local ns=${!1} gw=${!2}
        veth_add "$ns" eth1 "$gw" eth0
        ip -n "$ns" addr add 192.168.1.100/24 dev eth1
        ip -n "$ns" addr add fd00:1010:1010:1010::100/64 dev eth1 nodad
        ip -n "$gw" addr add 192.168.1.1/24 dev eth0
        ip -n "$gw" addr add fd00:1010:1010:1010::1/64 dev eth0 nodad
        ns_exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null
}

# rel_conf FILE [LINE...]: the seed 003 configuration, extra lines appended (sections may repeat)
rel_conf() {
        local f=$1
        shift
        {
                printf '[Table]\nName=vpn\nId=200\nPriority=32765\n'
                printf '[Pool]\nPrefix=10.10.10.0/24\nPrefix=fd00:4242:4242:4242::/64\n'
                printf '[Gateway]\nIPv4=192.168.1.1\nIPv6=fd00:1010:1010:1010::1\n'
                printf '[Kernel]\nForwarding=enable\n'
                (($# == 0)) || printf '%s\n' "$@"
        } >"$f"
}

# the seed 003 base objects, as rules_json/routes_json print them
REL_RULES4='[{"priority":32765,"src":"10.10.10.0","srclen":24,"table":"vpn","protocol":"vpnpolicy"}]'
REL_RULES6='[{"priority":32765,"src":"fd00:4242:4242:4242::","srclen":64,"table":"vpn","protocol":"vpnpolicy"}]'
REL_ROUTES4='[{"dst":"default","gateway":"192.168.1.1","dev":"eth1","type":"unicast","metric":0,"protocol":"vpnpolicy"},
          {"dst":"default","type":"unreachable","metric":4294967295,"protocol":"vpnpolicy"}]'
REL_ROUTES6='[{"dst":"default","gateway":"fd00:1010:1010:1010::1","dev":"eth1","type":"unicast","metric":1024,"protocol":"vpnpolicy"},
          {"dst":"default","dev":"lo","type":"unreachable","metric":4294967295,"protocol":"vpnpolicy"}]'

# rel_base_exact WHAT NS: rules and table 200 are exactly the seed 003 base objects
rel_base_exact() {
        assert_eq "$1: v4 rules exact" "$REL_RULES4" "$(rules_json "$2" 4)"
        assert_eq "$1: v6 rules exact" "$REL_RULES6" "$(rules_json "$2" 6)"
        assert_eq "$1: v4 table 200 exact" "$REL_ROUTES4" "$(routes_json "$2" 4 200)"
        assert_eq "$1: v6 table 200 exact" "$REL_ROUTES6" "$(routes_json "$2" 6 200)"
}

# rel_flush NS: remove every rule at preference 32765 and everything in table 200 (`ip -6 route flush`
# leaves unreachable routes alone, so the v6 fail-closed route is deleted by name)
rel_flush() {
        ip -n "$1" -4 route flush table 200 >/dev/null 2>&1 || true
        ip -n "$1" -6 route flush table 200 >/dev/null 2>&1 || true
        ip -n "$1" -6 route del unreachable default metric 4294967295 table 200 >/dev/null 2>&1 || true
        while ip -n "$1" -4 rule del pref 32765 2>/dev/null; do :; done
        while ip -n "$1" -6 rule del pref 32765 2>/dev/null; do :; done
}

# agent_spawn NS CONF [ARGS...]: start vpnpolicyd like agent_start but return at once (no wait for
# READY=1); AGENT_PID is set and the agent is stopped at cleanup like one of agent_start.
agent_spawn() {
        local ns=$1 conf=$2
        shift 2
        mkdir -p -m 0755 "$T/run-$ns"        # the agent refuses a runtime directory others may write
        _vpt_notify_ensure "$ns" || return 1
        echo "=== agent_spawn $(date +%T.%N) $VPNPOLICYD --config $conf $*" >>"$T/agent-$ns.log"
        NOTIFY_SOCKET=$T/notify-$ns.sock ip netns exec "$ns" "${_VPT_WRAPPER[@]}" "$VPNPOLICYD" \
                --config "$conf" --runtime-dir "$T/run-$ns" --log-level debug "$@" </dev/null \
                >>"$T/agent-$ns.log" 2>&1 &
        AGENT_PID=$!
        AGENT_NS=$ns
        # shellcheck disable=SC2004 # an associative array (common.sh)
        _VPT_AGENT[$ns]=$AGENT_PID
}

# rel_flush_ours NS: remove every rule and route of protocol 211, whatever its table or preference
rel_flush_ours() {
        local fam
        for fam in 4 6; do
                ip -n "$1" -j -"$fam" rule show |
                        jq -r '.[] | select(.protocol == "211" or .protocol == "vpnpolicy")
                                | "rule del pref \(.priority) from \(.src // "all")\(if .srclen then "/\(.srclen)" else "" end) table \(.table)"' |
                        ip -n "$1" -"$fam" -batch - 2>/dev/null || true
                ip -n "$1" -"$fam" route flush table all proto 211 >/dev/null 2>&1 || true
                ip -n "$1" -j -"$fam" route show table all proto 211 type unreachable 2>/dev/null |
                        jq -r '.[] | "route del unreachable \(.dst) table \(.table // "main") metric \(.metric // 0)"' |
                        ip -n "$1" -"$fam" -batch - 2>/dev/null || true
        done
}

# status_json NS: status --json also when degraded (exit 3)
status_json() { ctl "$1" status --json || true; }

# ---------------------------------------------------------------------------------------------------------
# relnl monitor: every rule and route event, lossless (64 MiB buffer) or it says so

RELMON_PID=
RELMON_FILE=
# relmon_start NS FILE [--quiet]
relmon_start() {
        local opts=("${@:3}")
        RELMON_FILE=$2
        ip netns exec "$1" "$RELNL" monitor "${opts[@]}" </dev/null >"$2" 2>"$2.err" &
        RELMON_PID=$!
        register_pid "$RELMON_PID"
        wait_until 3000 grep -q '^# subscribed' "$2" || { echo "relmon_start: monitor did not subscribe" >&2; return 1; }
}
# relmon_stop: stop it once it has read everything queued; fails if it lost events
relmon_stop() {
        local rc=0
        [[ -n $RELMON_PID ]] || return 0
        kill -TERM "$RELMON_PID" 2>/dev/null || true
        wait "$RELMON_PID" 2>/dev/null || rc=$?
        RELMON_PID=
        if ((rc == 3)); then
                echo "relmon_stop: the monitor lost events (ENOBUFS): $(grep -c OVERRUN "$RELMON_FILE")" >&2
                return 1
        fi
        return 0
}
# relmon_keys FILE ACTION [KIND]: the KEY part (before " | ") of the ACTION (NEW, DEL, DUMP) lines
relmon_keys() {
        awk -v a="$2" -v k="${3:-}" '$2 == a && (k == "" || $3 == k) { sub(/^[^ ]+ [^ ]+ /, ""); sub(/ \|.*/, ""); print }' "$1"
}

# rel_dump NS FILE: relnl dump (every rule and route, monitor format) into FILE
rel_dump() { ip netns exec "$1" "$RELNL" dump >"$2"; }
# rel_ours FILE: the keys of our objects (proto 211) in a dump or monitor file, one a line, sorted
rel_ours() { awk '/ proto=211 /' "$1" | sed -E 's/^[^ ]+ [^ ]+ //; s/ \|.*//' | sort -u; }

# ---------------------------------------------------------------------------------------------------------
# process figures

# cpu_ticks PID: utime + stime of PID in clock ticks (proc(5) fields 14 and 15)
cpu_ticks() {
        local s
        read -r s <"/proc/$1/stat" || return 1
        s=${s##*) }
        # after the comm: field 3 is the state, so utime and stime are words 12 and 13
        awk '{ print $12 + $13 }' <<<"$s"
}
CLK_TCK=$(getconf CLK_TCK)

# vmrss_kb PID: resident set size in KiB
vmrss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# log_count PATTERN [FILE]: lines of the agent log (default $T/agent-$AGENT_NS.log) matching PATTERN (ERE)
log_count() { grep -cE -- "$1" "${2:-$T/agent-$AGENT_NS.log}" || true; }
