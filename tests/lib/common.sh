# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash disable=SC2034
#
# tests/lib/common.sh: sourced by every integration and e2e test script.
#
#   #!/bin/bash
#   set -euo pipefail
#   source "$(dirname "$0")/../lib/common.sh"
#   ns_new NS
#   agent_start "$NS" "$conf"
#   check "rule present" grep -q 32765 <(ip -n "$NS" rule)
#   finish
#
# Rules for test scripts:
#   - Root only (exits 77, meson's "skipped", otherwise). Everything happens in namespaces made by ns_new;
#     never touch the host's /etc/iproute2, never send traffic to an address outside the test's namespaces.
#   - Do not set your own EXIT/INT/TERM trap: register extra cleanup with `defer CMD ARGS...` (LIFO).
#   - Call ns_new, agent_start and monitor_start in the main shell, not in a subshell or $(...): what a
#     subshell registers for cleanup is lost when it exits.
#   - End with `finish`. Under `set -e` a failing command aborts the test; cleanup still runs and the
#     agent log tail is printed.
#
# Environment (meson sets the first four):
#   VPNPOLICYD, VPNPOLICYCTL   binaries (default $BUILD/agent/daemon/vpnpolicyd, $BUILD/agent/ctl/vpnpolicyctl)
#   NOTIFY_WAIT                tests/helpers/notify-wait (default $BUILD/tests/helpers/notify-wait)
#   SOURCE_ROOT                repository root (default: from this file's path)
#   BUILD                      build directory, relative to SOURCE_ROOT or absolute (default build)
#   AGENT_TIMEOUT_MS           how long agent_start waits for READY=1 (default 10000)
#   AGENT_WRAPPER              command prefix for the agent, e.g. "valgrind --error-exitcode=99"
#   KEEP_TMP=1                 keep $T (logs, sockets, configs) after the test, and say where

[[ -n ${_VPT_SOURCED:-} ]] && return 0
_VPT_SOURCED=1

SOURCE_ROOT=${SOURCE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${BUILD:-build}
[[ $BUILD == /* ]] || BUILD=$SOURCE_ROOT/$BUILD
VPNPOLICYD=${VPNPOLICYD:-$BUILD/agent/daemon/vpnpolicyd}
VPNPOLICYCTL=${VPNPOLICYCTL:-$BUILD/agent/ctl/vpnpolicyctl}
NOTIFY_WAIT=${NOTIFY_WAIT:-$BUILD/tests/helpers/notify-wait}
AGENT_TIMEOUT_MS=${AGENT_TIMEOUT_MS:-10000}
TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}
export SOURCE_ROOT BUILD VPNPOLICYD VPNPOLICYCTL NOTIFY_WAIT

if ((EUID != 0)); then
        echo "SKIP: $TEST_NAME needs root (network namespaces)"
        exit 77
fi
for _vpt_tool in ip jq awk; do
        if ! command -v "$_vpt_tool" >/dev/null; then
                echo "FAIL: $TEST_NAME: '$_vpt_tool' is missing (tests/run.sh installs it)" >&2
                exit 1
        fi
done
unset _vpt_tool

T=$(mktemp -d "${TMPDIR:-/tmp}/vpt.XXXXXX")
chmod 0755 "$T"

_VPT_PID=$BASHPID
_VPT_NS=()              # namespaces to delete
_VPT_PIDS=()            # processes to stop
_VPT_DEFER=()           # extra cleanup commands, run last-in first-out
_VPT_FAILED=()          # names of failed checks
_VPT_PASSED=0
_VPT_NS_SEQ=0
_VPT_CLEANED=
_VPT_FINISHING=
_VPT_ERR_LINE=
_VPT_ERR_CMD=
[[ -d /etc/netns ]] && _VPT_ETC_NETNS_EXISTED=1 || _VPT_ETC_NETNS_EXISTED=
declare -A _VPT_AGENT=()        # namespace -> agent pid
declare -A _VPT_NOTIFY=()       # namespace -> notify-wait pid
read -ra _VPT_WRAPPER <<<"${AGENT_WRAPPER:-}"
AGENT_PID=
AGENT_NS=
AGENT_RC=
AGENT_READY_MS=
MONITOR_PID=
MONITOR_NS=
MONITOR_FILE=

# ---------------------------------------------------------------------------------------------------------
# small utilities

info() { echo "# $*"; }
# figure NAME VALUE UNIT: one measured figure, as "# figure: NAME VALUE UNIT" (the reliability and bench
# libraries keep their own, which also collect the figures)
figure() { echo "# figure: $1 $2 $3"; }

# die MSG: report a fatal error and end the test (cleanup runs from the EXIT trap).
die() {
        echo "FAIL: $TEST_NAME: $*" >&2
        _VPT_FINISHING=1
        exit 1
}

# skip_test REASON: the whole test does not apply here (meson counts exit 77 as skipped).
skip_test() {
        echo "SKIP: $TEST_NAME: $*"
        _VPT_FINISHING=1
        exit 77
}

# now_us / now_ms: wall clock, comparable with notify-wait's timestamps. No fork.
now_us() { echo "${EPOCHREALTIME/[.,]/}"; }
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

# _vpt_alive PID: true while PID exists and is not a zombie.
_vpt_alive() {
        local s
        { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
        s=${s##*) }
        [[ ${s:0:1} != Z ]]
}
_vpt_dead() { ! _vpt_alive "$1"; }

# register_pid PID: stop PID (TERM, then KILL) at cleanup.
register_pid() { _VPT_PIDS+=("$1"); }

# _vpt_stop_pids SIG TIMEOUT_MS PID...: signal, wait for all to go, KILL the rest, reap our children.
_vpt_stop_pids() {
        local sig=$1 timeout=$2 pid deadline now
        shift 2
        (($#)) || return 0
        for pid; do kill -s "$sig" "$pid" 2>/dev/null; done
        deadline=$(($(now_ms) + timeout))
        for pid; do
                while _vpt_alive "$pid"; do
                        now=$(now_ms)
                        if ((now >= deadline)); then
                                kill -KILL "$pid" 2>/dev/null
                                break
                        fi
                        sleep 0.01
                done
        done
        for pid; do wait "$pid" 2>/dev/null || true; done
}

# defer CMD ARGS...: run at cleanup, last registered first. Failures are reported, not fatal.
defer() {
        local s
        printf -v s '%q ' "$@"
        _VPT_DEFER+=("$s")
}

# ---------------------------------------------------------------------------------------------------------
# cleanup: idempotent; runs from the EXIT trap (also after INT/TERM), only in the shell that sourced us.

cleanup() {
        [[ $BASHPID == "$_VPT_PID" && -z $_VPT_CLEANED ]] || return 0
        _VPT_CLEANED=1
        local i ns pids

        for ((i = ${#_VPT_DEFER[@]} - 1; i >= 0; i--)); do
                eval "${_VPT_DEFER[i]}" || echo "# cleanup: '${_VPT_DEFER[i]}' failed, ignoring" >&2
        done
        _VPT_DEFER=()

        # Agents first (so they see TERM, not their notify socket going away), then the helpers and
        # whatever the test left in the background without registering it.
        _vpt_stop_pids TERM 3000 "${_VPT_AGENT[@]}"
        # shellcheck disable=SC2046
        _vpt_stop_pids TERM 2000 "${_VPT_PIDS[@]}" $(jobs -p)
        _VPT_AGENT=()
        _VPT_PIDS=()

        for ns in "${_VPT_NS[@]}"; do
                # Whatever a test left running inside (openvpn, ping, socat) would keep the namespace alive.
                pids=$(ip netns pids "$ns" 2>/dev/null) || pids=
                if [[ -n $pids ]]; then
                        # shellcheck disable=SC2086
                        _vpt_stop_pids KILL 2000 $pids
                fi
                if [[ -e /run/netns/$ns ]]; then
                        ip netns del "$ns" 2>/dev/null || echo "# cleanup: cannot delete netns $ns" >&2
                fi
                rm -rf "/etc/netns/$ns"
        done
        _VPT_NS=()
        [[ -n $_VPT_ETC_NETNS_EXISTED ]] || rmdir /etc/netns 2>/dev/null || true

        if [[ -n ${KEEP_TMP:-} ]]; then
                echo "# kept $T" >&2
        elif [[ -n ${T:-} && -d $T ]]; then
                rm -rf "$T"
        fi
}

_vpt_dump_logs() {
        local f
        for f in "$T"/agent-*.log "$T"/notify-*.log; do
                [[ -s $f ]] || continue
                echo "--- last 40 lines of ${f##*/} ---"
                tail -n 40 "$f" | sed 's/^/  | /'
        done >&2
}

_vpt_on_exit() {
        local rc=$?
        [[ $BASHPID == "$_VPT_PID" ]] || return "$rc"
        set +e
        if ((rc != 0)) && [[ -z $_VPT_FINISHING ]]; then
                if [[ -n $_VPT_ERR_LINE ]]; then
                        echo "FAIL: $TEST_NAME aborted (exit $rc); last failed command, line $_VPT_ERR_LINE: $_VPT_ERR_CMD" >&2
                else
                        echo "FAIL: $TEST_NAME aborted (exit $rc)" >&2
                fi
        fi
        ((rc == 0 || rc == 77)) || _vpt_dump_logs
        cleanup
        exit "$rc"
}

_vpt_on_signal() {
        echo "FAIL: $TEST_NAME interrupted by SIG$1" >&2
        _VPT_FINISHING=1
        exit "$2"
}

trap _vpt_on_exit EXIT
trap '_vpt_on_signal INT 130' INT
trap '_vpt_on_signal TERM 143' TERM
trap '_vpt_on_signal HUP 129' HUP
# Remember the last failing command, so an abort under set -e says where it happened (errtrace: also
# inside functions).
set -o errtrace
trap '_VPT_ERR_LINE="$LINENO${FUNCNAME:+ in ${FUNCNAME[0]}()}" _VPT_ERR_CMD=$BASH_COMMAND' ERR

# ---------------------------------------------------------------------------------------------------------
# namespaces and devices

# ns_new VAR: new namespace "vpt<pid>-<n>" with its own /etc/iproute2 view, lo up, IPv6 DAD off.
ns_new() {
        local __var=$1 name d
        [[ $__var =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "ns_new: bad variable name '$__var'"
        while :; do
                _VPT_NS_SEQ=$((_VPT_NS_SEQ + 1))
                name=vpt$$-$_VPT_NS_SEQ
                [[ -e /run/netns/$name || -e /etc/netns/$name ]] || break
        done
        _VPT_NS+=("$name")

        # `ip netns exec` bind-mounts /etc/netns/NAME/iproute2 over /etc/iproute2, so the agent's
        # rt_tables.d and rt_protos.d entries (and `ip`'s names for them) stay inside the test.
        d=/etc/netns/$name/iproute2
        mkdir -p "$d/rt_tables.d" "$d/rt_protos.d" || return 1
        printf '#\n# reserved values\n#\n255\tlocal\n254\tmain\n253\tdefault\n0\tunspec\n' >"$d/rt_tables"

        ip netns add "$name" || return 1
        ip -n "$name" link set lo up || return 1
        # Addresses usable at once: no duplicate address detection in a namespace of our own.
        ip netns exec "$name" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
                >/dev/null || return 1
        printf -v "$__var" '%s' "$name"
}

# ns_exec NS CMD...: run CMD in NS (with the namespace's /etc/iproute2).
ns_exec() {
        local ns=$1
        shift
        ip netns exec "$ns" "$@"
}

# tun_add NS DEV: a persistent tun device in NS, up (no carrier until a process attaches).
tun_add() {
        ip -n "$1" tuntap add dev "$2" mode tun && ip -n "$1" link set "$2" up
}

# veth_add NS1 DEV1 NS2 DEV2: a veth pair between two namespaces, both ends up. Never in the host.
veth_add() {
        ip -n "$1" link add "$2" type veth peer name "$4" netns "$3" &&
                ip -n "$1" link set "$2" up && ip -n "$3" link set "$4" up
}

# ---------------------------------------------------------------------------------------------------------
# the agent

_vpt_lines() { if [[ -f $1 ]]; then wc -l <"$1"; else echo 0; fi; }

# _vpt_notify_ensure NS: one notify-wait per namespace, kept across agent restarts, logging every
# notification (READY=1, RELOADING=1, WATCHDOG=1, STOPPING=1) to $T/notify-NS.log.
_vpt_notify_ensure() {
        local ns=$1 sock=$T/notify-$1.sock pid
        pid=${_VPT_NOTIFY[$ns]:-}
        if [[ -n $pid ]] && _vpt_alive "$pid"; then
                return 0
        fi
        [[ -x $NOTIFY_WAIT ]] || { echo "agent_start: no notify-wait at $NOTIFY_WAIT" >&2; return 1; }
        "$NOTIFY_WAIT" --keep --timeout-ms 0 "$sock" </dev/null >>"$T/notify-$ns.log" 2>&1 &
        pid=$!
        _VPT_NOTIFY[$ns]=$pid
        register_pid "$pid"
        if ! wait_until 2000 test -S "$sock"; then
                echo "agent_start: notify-wait did not bind $sock" >&2
                cat "$T/notify-$ns.log" >&2
                return 1
        fi
}

# notify_lines NS: how many notification lines NS's agent has sent so far (a mark for notify_wait).
notify_lines() { _vpt_lines "$T/notify-$1.log"; }

# notify_wait NS TEXT [TIMEOUT_MS] [AFTER_LINE]: wait until the agent sends a line equal to TEXT after
# line AFTER_LINE (default 0) of its notification log. E.g. n=$(notify_lines $NS); kill -HUP $AGENT_PID;
# notify_wait $NS READY=1 5000 $n
notify_wait() {
        local ns=$1 text=$2 timeout=${3:-$AGENT_TIMEOUT_MS} after=${4:-0}
        wait_until "$timeout" _vpt_notify_seen "$T/notify-$ns.log" "$text" "$after"
}
_vpt_notify_seen() {
        [[ -f $1 ]] && tail -n "+$(($3 + 1))" "$1" | cut -d' ' -f2- | grep_q -xF -- "$2"
}

# agent_start NS CONF [ARGS...]: start vpnpolicyd in NS and wait for READY=1 (AGENT_TIMEOUT_MS).
# Sets AGENT_PID, AGENT_NS, AGENT_READY_MS (also written to $T/ready-ms). Returns 1, with the agent's
# log tail, if it dies or stays silent. AGENT_NOTIFY_SOCKET, when set, is the agent's NOTIFY_SOCKET
# instead of notify-wait's own (a relay in front of it: relnl monitor --notify).
agent_start() {
        local ns=$1 conf=$2
        shift 2
        local log=$T/agent-$ns.log nlog=$T/notify-$ns.log
        local n0 t0 pid line ts deadline rc

        mkdir -p -m 0755 "$T/run-$ns"        # the agent refuses a runtime directory others may write
        _vpt_notify_ensure "$ns" || return 1
        n0=$(_vpt_lines "$nlog")
        echo "=== agent_start $(date +%T.%N) ${_VPT_WRAPPER[*]} $VPNPOLICYD --config $conf $*" >>"$log"
        t0=$(now_us)
        NOTIFY_SOCKET=${AGENT_NOTIFY_SOCKET:-$T/notify-$ns.sock} ip netns exec "$ns" "${_VPT_WRAPPER[@]}" "$VPNPOLICYD" \
                --config "$conf" --runtime-dir "$T/run-$ns" --log-level debug "$@" </dev/null >>"$log" 2>&1 &
        pid=$!
        AGENT_PID=$pid
        AGENT_NS=$ns
        AGENT_READY_MS=
        _VPT_AGENT[$ns]=$pid
        deadline=$((t0 / 1000 + AGENT_TIMEOUT_MS))

        while :; do
                line=$(tail -n "+$((n0 + 1))" "$nlog" | grep -m1 ' READY=1$') || true
                [[ -n $line ]] && break
                if _vpt_dead "$pid"; then
                        rc=0
                        wait "$pid" 2>/dev/null || rc=$?
                        unset "_VPT_AGENT[$ns]"
                        echo "agent_start: vpnpolicyd in $ns exited with status $rc before READY=1" >&2
                        tail -n 30 "$log" | sed 's/^/  | /' >&2
                        return 1
                fi
                if (($(now_ms) >= deadline)); then
                        echo "agent_start: no READY=1 from vpnpolicyd in $ns within $AGENT_TIMEOUT_MS ms" >&2
                        tail -n 30 "$log" | sed 's/^/  | /' >&2
                        return 1
                fi
                sleep 0.01
        done
        ts=${line%% *}
        ts=${ts/./}
        AGENT_READY_MS=$(((ts - t0 + 500) / 1000))
        echo "$AGENT_READY_MS" >"$T/ready-ms"
        info "vpnpolicyd in $ns ready after $AGENT_READY_MS ms (pid $pid)"
}

# agent_stop [SIGNAL] [NS]: signal the agent (default TERM, default the last started) and wait for it to
# exit (AGENT_STOP_TIMEOUT_MS, default 10000; then KILL and return 1). Sets AGENT_RC to its exit status.
agent_stop() {
        local sig=${1:-TERM} ns=${2:-$AGENT_NS} pid
        pid=${_VPT_AGENT[$ns]:-}
        if [[ -z $pid ]]; then
                echo "agent_stop: no agent running in '$ns'" >&2
                return 1
        fi
        kill -s "$sig" "$pid" 2>/dev/null || true
        if ! wait_until "${AGENT_STOP_TIMEOUT_MS:-10000}" _vpt_dead "$pid"; then
                echo "agent_stop: vpnpolicyd in $ns still running after SIG$sig, killing it" >&2
                kill -KILL "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
                unset "_VPT_AGENT[$ns]"
                AGENT_RC=137
                return 1
        fi
        AGENT_RC=0
        wait "$pid" 2>/dev/null || AGENT_RC=$?
        unset "_VPT_AGENT[$ns]"
        return 0
}

# agent_cpu_ms [NS]: CPU time (user + system) the agent has used so far, in milliseconds.
agent_cpu_ms() {
        local pid=${_VPT_AGENT[${1:-$AGENT_NS}]:-} stat ticks
        [[ -n $pid ]] && stat=$(<"/proc/$pid/stat") || return 1
        read -ra ticks <<<"${stat##*) }"
        echo $(((ticks[11] + ticks[12]) * 1000 / $(getconf CLK_TCK)))
}

# agent_idle MS [NS]: true if the agent used under 5 % of a CPU over MS milliseconds of nothing happening
# (a loop that keeps finding work it never does spins at 100 %, also on a busy machine at 30 % or more).
agent_idle() {
        local ms=$1 ns=${2:-$AGENT_NS} before after
        before=$(agent_cpu_ms "$ns") || return 1
        sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
        after=$(agent_cpu_ms "$ns") || return 1
        echo "agent used $((after - before)) ms of CPU in $ms ms"
        ((after - before < ms / 20))
}

# agent_kill9 [NS]: SIGKILL the agent (a crash: it must leave routing intact).
agent_kill9() { agent_stop KILL "${1:-}"; }

# ctl NS ARGS...: vpnpolicyctl in NS, talking to that namespace's agent.
ctl() {
        local ns=$1
        shift
        ip netns exec "$ns" "$VPNPOLICYCTL" --runtime-dir "$T/run-$ns" "$@"
}

# ---------------------------------------------------------------------------------------------------------
# assertions

# check NAME CMD...: PASS if CMD succeeds, else FAIL with its output. Never aborts the test.
check() {
        local name=$1 out rc=0
        shift
        out=$("$@" 2>&1) || rc=$?
        if ((rc == 0)); then
                _vpt_pass "$name"
        else
                _vpt_fail "$name" "exit status $rc: $*" "$out"
        fi
        return 0
}

# check_fail NAME CMD...: PASS if CMD fails (a non-zero exit, not a crash by signal).
check_fail() {
        local name=$1 out rc=0
        shift
        out=$("$@" 2>&1) || rc=$?
        if ((rc != 0 && rc < 128)); then
                _vpt_pass "$name"
        else
                _vpt_fail "$name" "expected failure, got exit status $rc: $*" "$out"
        fi
        return 0
}

# assert_eq NAME EXPECTED ACTUAL: string equality; when EXPECTED is JSON (starts with [ or {) both sides
# are compared as JSON with sorted keys, and a top-level array as a set (sorted).
assert_eq() {
        local name=$1 exp=$2 act=$3 ne na
        if [[ $exp == [\[\{]* ]] &&
                ne=$(_vpt_json_norm <<<"$exp" 2>/dev/null) && na=$(_vpt_json_norm <<<"$act" 2>/dev/null); then
                exp=$ne
                act=$na
        fi
        if [[ $exp == "$act" ]]; then
                _vpt_pass "$name"
        else
                _vpt_fail "$name" "values differ (- expected, + actual)" \
                        "$(diff -u <(_vpt_pretty <<<"$exp") <(_vpt_pretty <<<"$act") | tail -n +3)"
        fi
        return 0
}

# json_norm: stdin JSON -> one line, keys sorted, a top-level array sorted (compare as a set).
json_norm() { _vpt_json_norm; }
_vpt_json_norm() { jq -cS 'if type == "array" then sort else . end'; }
_vpt_pretty() { jq -S . 2>/dev/null || cat; }

_vpt_pass() {
        echo "PASS: $1"
        _VPT_PASSED=$((_VPT_PASSED + 1))
}
_vpt_fail() {
        echo "FAIL: $1 ($2)"
        [[ -z $3 ]] || sed 's/^/    /' <<<"$3"
        _VPT_FAILED+=("$1")
}

# grep_q GREP-ARGS...: grep -q that reads its input to the end. Under pipefail `CMD | grep -q X` fails
# with 141 when grep exits at the first match while CMD (ip, nft, a dump in several writes) still writes.
grep_q() { grep "$@" >/dev/null; }
export -f grep_q      # for the bash -c of check and wait_until

# wait_until TIMEOUT_MS CMD...: poll CMD every 10 ms until it succeeds (0) or TIMEOUT_MS passes (1).
wait_until() {
        local timeout=$1 deadline
        shift
        deadline=$(($(now_ms) + timeout))
        while :; do
                "$@" >/dev/null 2>&1 && return 0
                (($(now_ms) < deadline)) || return 1
                sleep 0.01
        done
}

# finish: print the summary; exit 1 if a check failed or none ran, else 0.
finish() {
        local nfail=${#_VPT_FAILED[@]}
        _VPT_FINISHING=1
        if ((nfail)); then
                echo "SUMMARY: $TEST_NAME: $_VPT_PASSED checks passed, $nfail failed: ${_VPT_FAILED[*]}"
                exit 1
        elif ((_VPT_PASSED == 0)); then
                echo "SUMMARY: $TEST_NAME: no checks ran"
                exit 1
        fi
        echo "SUMMARY: $TEST_NAME: $_VPT_PASSED checks passed, 0 failed"
        exit 0
}

# ---------------------------------------------------------------------------------------------------------
# kernel state, normalized for comparison as sorted JSON

_vpt_family() {
        case $1 in
        4 | inet | ipv4) echo 4 ;;
        6 | inet6 | ipv6) echo 6 ;;
        *)
                echo "bad address family '$1' (4 or 6)" >&2
                return 1
                ;;
        esac
}

# rules_json NS FAMILY [PROTO]: the rules other than the kernel's defaults (or only those of protocol
# PROTO), as a sorted array of {priority, src, srclen, table, protocol}. Names come from the namespace's
# own rt_tables/rt_protos ("vpn", "vpnpolicy" once the agent wrote them; numbers before).
rules_json() {
        local ns=$1 fam out
        fam=$(_vpt_family "$2") || return 1
        out=$(ip netns exec "$ns" ip -j -d -"$fam" rule show) || return 1
        jq -cS --arg proto "${3:-}" '
                [.[] | select(if $proto == "" then .protocol != "kernel" else .protocol == $proto end)
                 | {priority, src: (.src // "all"), srclen: (.srclen // 0), table: (.table // null), protocol}
                   + (if .iif then {iif} else {} end) + (if .fwmark then {fwmark} else {} end)]
                | sort' <<<"$out"
}

# source_rules_json NS FAMILY [PROTOCOL]: rules_json without the rules by input device ("iif tun0", which the
# agent adds for each tunnel) and by firewall mark (its gateway probes' "fwmark MARK lookup PROBE_TABLE").
source_rules_json() {
        rules_json "$@" | jq -c '[.[] | select((has("iif") or has("fwmark")) | not)]'
}

# routes_json NS FAMILY TABLE [PROTO]: the routes of TABLE (a missing table is empty), optionally only
# those of protocol PROTO, as a sorted array of {dst, gateway, dev, type, metric, protocol} (gateway and
# dev only when present; metric 0 when the kernel has none).
routes_json() {
        local ns=$1 fam table=$3 out rc=0
        fam=$(_vpt_family "$2") || return 1
        out=$(ip netns exec "$ns" ip -j -d -"$fam" route show table "$table" 2>"$T/.routes-err") || rc=$?
        if ((rc != 0)); then
                if grep -q 'FIB table does not exist' "$T/.routes-err"; then
                        out='[]'
                else
                        cat "$T/.routes-err" >&2
                        return 1
                fi
        fi
        jq -cS --arg proto "${4:-}" '
                [.[] | select($proto == "" or .protocol == $proto)
                 | {dst, gateway, dev, type: (.type // "unicast"), metric: (.metric // 0), protocol}
                 | with_entries(select(.value != null))]
                | sort' <<<"$out"
}

# ---------------------------------------------------------------------------------------------------------
# event monitor, to prove that something did NOT happen (no rule or route deleted, even briefly)

# monitor_start NS FILE: `ip -ts monitor rule route` in NS into FILE; returns once it is subscribed.
monitor_start() {
        local ns=$1 file=$2
        ip netns exec "$ns" ip -ts monitor rule route </dev/null >"$file" 2>&1 &
        MONITOR_PID=$!
        MONITOR_NS=$ns
        MONITOR_FILE=$file
        register_pid "$MONITOR_PID"
        if ! wait_until 3000 _vpt_monitor_subscribed "$MONITOR_PID"; then
                echo "monitor_start: ip monitor in $ns did not subscribe" >&2
                return 1
        fi
}

# True once PID holds a NETLINK_ROUTE socket with multicast groups (/proc/PID/net/netlink, netlink(7)).
_vpt_monitor_subscribed() {
        local pid=$1 fd link inodes=" "
        for fd in /proc/"$pid"/fd/*; do
                link=$(readlink "$fd" 2>/dev/null) || continue
                [[ $link == socket:\[*\] ]] && inodes+="${link//[!0-9]/} "
        done
        [[ $inodes != " " ]] || return 1
        awk -v list="$inodes" 'NR > 1 && $2 == 0 && $4 != "00000000" && index(list, " " $10 " ") { ok = 1 }
                END { exit !ok }' "/proc/$pid/net/netlink"
}

# monitor_stop: stop the monitor once every event so far is in its file. A sentinel route (table 252,
# TEST-NET-1) is added and awaited, the monitor stopped, then the sentinel deleted and its line removed.
monitor_stop() {
        local pid=$MONITOR_PID ns=$MONITOR_NS file=$MONITOR_FILE sentinel
        [[ -n $pid ]] || return 0
        sentinel='192\.0\.2\.255 .*table 252 .*metric '"$$"'( |$)'
        if _vpt_alive "$pid" && ip -n "$ns" route add unreachable 192.0.2.255/32 table 252 metric $$ 2>/dev/null; then
                wait_until 2000 grep -qE "$sentinel" "$file" || echo "monitor_stop: sentinel not seen" >&2
                _vpt_stop_pids TERM 2000 "$pid"
                ip -n "$ns" route del unreachable 192.0.2.255/32 table 252 metric $$ 2>/dev/null || true
        else
                sleep 0.1
                _vpt_stop_pids TERM 2000 "$pid"
        fi
        sed -Ei "\\#$sentinel#d" "$file"
        MONITOR_PID=
}
