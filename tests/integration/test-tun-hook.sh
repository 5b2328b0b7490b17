#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # functions run indirectly, by check and wait_until
# The OpenVPN up hook (issue "tunnels"): with good input it registers the device and returns 0 once the
# tun routes are in table 200 (a tun named ovpn0, outside Match=tun*, becomes managed only then; status
# shows the registration). Hostile or bad input is refused with one "vpnpolicy up hook:" line on stderr,
# exit 0 (1 with --strict), and nothing changes in the kernel. Agent not running, or hung (SIGSTOP):
# exit 0 (1 with --strict) within the 2 s bound; a broken or hostile reply likewise, and none of its control
# characters reach OpenVPN's log. A non-root caller is refused unless RegisterUser= or RegisterGroup=
# allows it, and then may only confirm a registration root made for that very device (as OpenVPN's hook
# does at --up-restart, after dropping root): a device root never registered is refused with the reason,
# and what the caller passes as config and daemon_pid is ignored (root's are kept). The hook needs libc
# alone. Measures the hook's wall time over 100 calls.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

HOOK=${HOOK:-$BUILD/hooks/vpnpolicy-openvpn-up}
[[ -x $HOOK ]] || die "no hook binary at $HOOK (ninja -C $BUILD)"
CONVERGE_MS=${CONVERGE_MS:-3000}
CALLS=${CALLS:-100}

# write_conf FILE [LINE...]: the seed 003 configuration with Forwarding=enable, and LINEs.
# (pools wide enough for every address the test gives a tun: a tun matching tun* is ours only with one)
write_conf() {
        local f=$1
        shift
        seed003_config --pool 10.0.0.0/8 --pool fd00:4242:4242:4242::/64 "$f" '[Kernel]' 'Forwarding=enable' "$@"
}

# hook [HOOK OPTIONS...] -- NAME=VALUE...: run the hook inside the namespace as OpenVPN would (no PATH, only
# OpenVPN's variables, its positional arguments). Sets HOOK_RC, HOOK_MS and $T/hook.err, $T/hook.out.
HOOK_PREFIX=()          # e.g. (setpriv --reuid=65534 ...)
HOOK_RUNDIR=            # VPNPOLICY_RUNTIME_DIR, default the agent's
hook() {
        local opts=() t0 t1
        while (($#)) && [[ $1 != -- ]]; do
                opts+=("$1")
                shift
        done
        [[ ${1:-} != -- ]] || shift
        t0=$(now_us)
        HOOK_RC=0
        ip netns exec "$NS" "${HOOK_PREFIX[@]}" env -i "VPNPOLICY_RUNTIME_DIR=${HOOK_RUNDIR:-$T/run-$NS}" "$@" \
                "$HOOK" "${opts[@]}" tun0 1500 1500 10.10.10.1 255.255.255.0 init \
                </dev/null >"$T/hook.out" 2>"$T/hook.err" || HOOK_RC=$?
        t1=$(now_us)
        HOOK_MS=$(((t1 - t0) / 1000))
}

# one_line_err: stderr is exactly one line starting with "vpnpolicy up hook:"
one_line_err() {
        [[ $(wc -l <"$T/hook.err") == 1 ]] && grep -q '^vpnpolicy up hook: ' "$T/hook.err"
}

# kernel_snapshot: links, addresses, rules, routes of every table, send_redirects: all we could change
kernel_snapshot() {
        {
                ip -n "$NS" -j link show | jq -cS '[.[] | {ifname, flags, mtu, link_type}]'
                ip -n "$NS" -j addr show | jq -cS '[.[] | {ifname, addr_info: [.addr_info[] | {family, local, prefixlen, address}]}]'
                ip -n "$NS" -j -4 rule show
                ip -n "$NS" -j -6 rule show
                ip -n "$NS" -j -4 route show table all
                ip -n "$NS" -j -6 route show table all
                ip netns exec "$NS" sh -c 'grep . /proc/sys/net/ipv4/conf/*/send_redirects'
        }
}
status() { ctl "$NS" status --json || true; }
registrations() { status | jq -cS '[.devices[] | select(.registered) | .name] | sort'; }

has_route() { [[ -n $(ip -n "$NS" route show table 200 "$1") ]]; }
has_route6() { [[ -n $(ip -n "$NS" -6 route show table 200 "$1") ]]; }

GOOD=(dev=ovpn0 dev_type=tun ifconfig_local=10.10.10.1 ifconfig_netmask=255.255.255.0
      ifconfig_ipv6_local=fd00:4242:4242:4242::1 ifconfig_ipv6_netbits=64
      config=/etc/openvpn/server/udp.conf daemon_pid=$$ script_type=up)

# ---------------------------------------------------------------------------------------------------------
info "the hook loads libc alone"
# Everything else (libsystemd with its compression and crypto libraries, jansson) costs milliseconds per
# exec. A sanitizer build adds its runtimes; those are not the hook's.
libs=$(ldd "$HOOK" | awk '$1 !~ /^linux-vdso|ld-linux/ { print $1 }' |
        grep -v -E '^lib(asan|ubsan|lsan|stdc\+\+|m|gcc_s|dl|pthread|rt)\.so' | sort | tr '\n' ' ')
assert_eq "the hook's shared libraries" "libc.so.6 " "$libs"

info "setup"
seed003_uplink --no-forwarding NS GW
write_conf "$T/root.conf"
agent_start "$NS" "$T/root.conf"
# What OpenVPN does before it runs "up": the device with its addresses.
seed003_tun "$NS" ovpn0
tun_add "$NS" tun0
ip -n "$NS" addr add 10.20.0.1/24 dev tun0
check "tun0 (matches tun*) managed without the hook" wait_until "$CONVERGE_MS" has_route 10.20.0.0/24
check_fail "ovpn0 (no match) not managed before the hook" has_route 10.10.10.0/24
check_fail "ovpn0 not in status before the hook" jq -e '.devices[] | select(.name == "ovpn0")' <<<"$(status)"

# ---------------------------------------------------------------------------------------------------------
info "good input: registers ovpn0, returns once the routes are in"
hook -- "${GOOD[@]}"
check "hook exits 0" test "$HOOK_RC" = 0
check "hook is silent on success" test ! -s "$T/hook.err"
check "hook returned well before its 2 s bound ($HOOK_MS ms)" test "$HOOK_MS" -lt 1000
# no waiting: the hook is the barrier
check "v4 route in table 200 when the hook returns" has_route 10.10.10.0/24
check "v6 route in table 200 when the hook returns" has_route6 fd00:4242:4242:4242::/64
assert_eq "the route is exact" \
        '[{"dst":"10.10.10.0/24","dev":"ovpn0","type":"unicast","metric":0,"protocol":"vpnpolicy"}]' \
        "$(routes_json "$NS" 4 200 vpnpolicy | jq -c '[.[] | select(.dst == "10.10.10.0/24")]')"
s=$(status)
check "status: ovpn0 is a managed device, registered" \
        jq -e '.devices[] | select(.name == "ovpn0" and .registered == true and .kind == "tun")' <<<"$s"
# shellcheck disable=SC2016
check "status: registration carries config and daemon_pid" \
        jq -e --argjson pid $$ '.devices[] | select(.name == "ovpn0" and .config == "/etc/openvpn/server/udp.conf"
                                                   and .daemon_pid == $pid and .registered_at != null)' <<<"$s"
check "status: tun-route objects for ovpn0 present" \
        jq -e '[.objects[] | select(.role == "tun-route" and (.object | test("dev ovpn0 ")) and .present)] | length == 2' <<<"$s"
check "status: tun0 (not registered) shows registered false" \
        jq -e '.devices[] | select(.name == "tun0" and .registered == false)' <<<"$s"
check "ovpn0 send_redirects = 0 once registered" \
        test "$(ip netns exec "$NS" cat /proc/sys/net/ipv4/conf/ovpn0/send_redirects)" = 0
# a registered device is fully managed: a later address gets its route too
ip -n "$NS" addr add 10.8.0.1 peer 10.8.0.2 dev ovpn0
check "registered device: a later address gets its route" wait_until "$CONVERGE_MS" has_route 10.8.0.2
ip -n "$NS" addr del 10.8.0.1 peer 10.8.0.2 dev ovpn0

info "the same again, with --runtime-dir and --strict: idempotent"
HOOK_RUNDIR=/nonexistent
hook --strict --runtime-dir "$T/run-$NS" -- "${GOOD[@]}"
HOOK_RUNDIR=
check "second registration exits 0 (--runtime-dir beats the environment)" test "$HOOK_RC" = 0
check "second registration silent" test ! -s "$T/hook.err"
assert_eq "registrations" '["ovpn0"]' "$(registrations)"

info "net30: a registered device with a peer address"
tun_add "$NS" ovpn1
ip -n "$NS" addr add 10.8.1.1 peer 10.8.1.2 dev ovpn1
hook -- dev=ovpn1 dev_type=tun ifconfig_local=10.8.1.1 ifconfig_remote=10.8.1.2 script_type=up
check "net30 hook exits 0" test "$HOOK_RC" = 0
check "net30: peer route in table 200 when the hook returns" has_route 10.8.1.2

info "the device appears while the hook waits"
hook --timeout-ms 3000 -- dev=ovpn2 ifconfig_local=10.30.0.1 ifconfig_netmask=255.255.255.0 &
hpid=$!
sleep 0.3
tun_add "$NS" ovpn2
ip -n "$NS" addr add 10.30.0.1/24 dev ovpn2
wait "$hpid"
# the background run wrote $T/hook.err; its HOOK_RC was in the subshell: ask the kernel and the file
check "late device: hook silent (no timeout)" test ! -s "$T/hook.err"
check "late device: route present" has_route 10.30.0.0/24

info "20 OpenVPN instances starting at once"
for i in $(seq 0 19); do
        echo "tuntap add dev ovpnp$i mode tun"
        echo "link set ovpnp$i up"
        echo "addr add 10.70.$i.1/24 dev ovpnp$i"
done >"$T/par.batch"
ip -n "$NS" -batch "$T/par.batch"
pids=()
for i in $(seq 0 19); do
        ip netns exec "$NS" env -i "VPNPOLICY_RUNTIME_DIR=$T/run-$NS" "dev=ovpnp$i" "ifconfig_local=10.70.$i.1" \
                ifconfig_netmask=255.255.255.0 script_type=up "$HOOK" --strict </dev/null >/dev/null 2>"$T/par-$i.err" &
        pids+=($!)
done
prc=0
for p in "${pids[@]}"; do wait "$p" || prc=$((prc + 1)); done
check "20 parallel hooks (--strict) all exit 0" test "$prc" = 0
check "20 parallel hooks all silent" test -z "$(cat "$T"/par-*.err)"
n=0
for i in $(seq 0 19); do has_route "10.70.$i.0/24" && n=$((n + 1)); done
check "20 parallel hooks: all 20 routes in table 200 ($n)" test "$n" = 20
check "20 parallel hooks: all 20 registered" \
        test "$(status | jq '[.devices[] | select((.name | startswith("ovpnp")) and .registered)] | length')" = 20
for i in $(seq 0 19); do echo "link del ovpnp$i"; done >"$T/par-del.batch"
ip -n "$NS" -batch "$T/par-del.batch"

info "registration ends with the device"
ip -n "$NS" link del ovpn0
check "ovpn0 deleted: v4 route gone" wait_until "$CONVERGE_MS" eval '! has_route 10.10.10.0/24'
check "ovpn0 deleted: v6 route gone" wait_until "$CONVERGE_MS" eval '! has_route6 fd00:4242:4242:4242::/64'
check_fail "ovpn0 deleted: not in status" jq -e '.devices[] | select(.name == "ovpn0")' <<<"$(status)"
seed003_tun "$NS" ovpn0
ip -n "$NS" addr add 10.20.0.5/24 dev tun0      # barrier: handled after ovpn0's addresses
wait_until "$CONVERGE_MS" has_route 10.20.0.0/24
sleep 0.2
check_fail "a new ovpn0 is not managed by the old registration" has_route 10.10.10.0/24
ip -n "$NS" addr del 10.20.0.5/24 dev tun0
hook -- "${GOOD[@]}"
check "re-registration of the new ovpn0 exits 0" test "$HOOK_RC" = 0
check "re-registration is silent (routes confirmed, no timeout)" test ! -s "$T/hook.err"
check "and its v4 route is in" has_route 10.10.10.0/24
check "and its v6 route is in" has_route6 fd00:4242:4242:4242::/64

# ---------------------------------------------------------------------------------------------------------
info "bad and hostile input: refused, exit 0 (1 with --strict), nothing changed"
# refused NAME VARS...: the hook must refuse, both ways, and leave the kernel as it was
refused() {
        local name=$1 before after regs
        shift
        regs=$(registrations)
        before=$(kernel_snapshot)
        hook -- "$@"
        check "$name: exit 0" test "$HOOK_RC" = 0
        check "$name: one 'vpnpolicy up hook:' line on stderr" one_line_err
        check "$name: within 2.5 s ($HOOK_MS ms)" test "$HOOK_MS" -lt 2500
        sed 's/^/#   /' "$T/hook.err"
        hook --strict -- "$@"
        check "$name: --strict exits 1" test "$HOOK_RC" = 1
        check "$name: --strict: one line on stderr" one_line_err
        after=$(kernel_snapshot)
        assert_eq "$name: kernel unchanged" "$before" "$after"
        assert_eq "$name: registrations unchanged" "$regs" "$(registrations)"
}
refused "dev with ;" 'dev=ovpn0;reboot' ifconfig_local=10.10.10.1 ifconfig_netmask=255.255.255.0
# shellcheck disable=SC2016 # literal on purpose: no shell may expand it
refused 'dev with $(reboot)' 'dev=$(reboot)' ifconfig_local=10.10.10.1 ifconfig_netmask=255.255.255.0
refused "dev with \$(touch canary)" "dev=\$(touch $T/pwned)" ifconfig_local=10.10.10.1
refused "dev with backticks" "dev=\`touch $T/pwned2\`"
check_fail "no shell ran the canaries" test -e "$T/pwned" -o -e "$T/pwned2"
refused "dev with a space" 'dev=ovpn 0' ifconfig_local=10.10.10.1 ifconfig_netmask=255.255.255.0
refused "dev with a newline" $'dev=ovpn0\nreboot' ifconfig_local=10.10.10.1 ifconfig_netmask=255.255.255.0
refused "dev of 16 characters" dev=tun0123456789abc ifconfig_local=10.10.10.1 ifconfig_netmask=255.255.255.0
refused "dev of 64 characters" "dev=$(printf 't%.0s' {1..64})"
refused "dev with a slash" dev=../../etc
refused "empty dev" dev= ifconfig_local=10.10.10.1
refused "missing dev" ifconfig_local=10.10.10.1 ifconfig_netmask=255.255.255.0 script_type=up
refused "bad netmask 255.0.255.0" dev=ovpn0 ifconfig_local=10.10.10.1 ifconfig_netmask=255.0.255.0
refused "netmask not an address" dev=ovpn0 ifconfig_local=10.10.10.1 'ifconfig_netmask=255.255.255.0; reboot'
refused "ifconfig_local not an address" dev=ovpn0 'ifconfig_local=10.10.10.1;reboot' ifconfig_netmask=255.255.255.0
refused "netbits 129" dev=ovpn0 ifconfig_ipv6_local=fd00:4242:4242:4242::1 ifconfig_ipv6_netbits=129
refused "netbits -1" dev=ovpn0 ifconfig_ipv6_local=fd00:4242:4242:4242::1 ifconfig_ipv6_netbits=-1
refused "netbits missing" dev=ovpn0 ifconfig_ipv6_local=fd00:4242:4242:4242::1
refused "script_type=down" dev=ovpn0 ifconfig_local=10.10.10.1 ifconfig_netmask=255.255.255.0 script_type=down
refused "dev_type bogus" dev=ovpn0 dev_type=bogus ifconfig_local=10.10.10.1
refused "daemon_pid not a number" dev=ovpn0 daemon_pid=1x ifconfig_local=10.10.10.1
refused "config with a control character" dev=ovpn0 $'config=/etc/openvpn/a\x01b' ifconfig_local=10.10.10.1
# the agent refuses these (valid names, wrong devices); the device must stay unmanaged
refused "dev=eth1 (a veth): refused by the agent" dev=eth1 ifconfig_local=192.168.1.100 ifconfig_netmask=255.255.255.0
check "dev=eth1: the agent's reason is shown" grep -q 'not a tunnel' "$T/hook.err"
refused "dev=lo: refused by the agent" dev=lo ifconfig_local=127.0.0.1 ifconfig_netmask=255.0.0.0
check_fail "eth1 not in status devices" jq -e '.devices[] | select(.name == "eth1" or .name == "lo")' <<<"$(status)"
refused "a device that never appears (timeout)" dev=ovpn9 ifconfig_local=10.40.0.1 ifconfig_netmask=255.255.255.0
check "the agent is still running" _vpt_alive "$AGENT_PID"

info "bad hook options"
hook --bogus -- "${GOOD[@]}"
check "unknown option: exit 0" test "$HOOK_RC" = 0
check "unknown option: one line" one_line_err
hook --strict --timeout-ms 0 -- "${GOOD[@]}"
check "--timeout-ms 0 with --strict: exit 1" test "$HOOK_RC" = 1
hook --strict --runtime-dir relative/dir -- "${GOOD[@]}"
check "relative --runtime-dir with --strict: exit 1" test "$HOOK_RC" = 1
check "relative --runtime-dir: one line" one_line_err

# ---------------------------------------------------------------------------------------------------------
info "hook wall time over $CALLS calls (registered device, routes in place)"
: >"$T/walltime.txt"
fails=0
for ((i = 0; i < CALLS; i++)); do
        t0=$(now_us)
        rc=0
        env -i "VPNPOLICY_RUNTIME_DIR=$T/run-$NS" "${GOOD[@]}" "$HOOK" tun0 1500 1500 10.10.10.1 255.255.255.0 init \
                </dev/null >/dev/null 2>>"$T/walltime.err" || rc=$?
        t1=$(now_us)
        ((rc == 0)) || fails=$((fails + 1))
        echo $((t1 - t0)) >>"$T/walltime.txt"
done
check "$CALLS calls exit 0" test "$fails" = 0
check "$CALLS calls silent" test ! -s "$T/walltime.err"
[[ ! -s $T/walltime.err ]] || sort "$T/walltime.err" | uniq -c | sed 's/^/#   /' | head -5
read -r wmin wmed wmax < <(sort -n "$T/walltime.txt" | awk '{ v[NR] = $1 } END {
        printf "%.2f %.2f %.2f\n", v[1] / 1000, v[int((NR + 1) / 2)] / 1000, v[NR] / 1000 }')
echo "# HOOK wall time over $CALLS calls (ms): min $wmin median $wmed max $wmax"

# ---------------------------------------------------------------------------------------------------------
info "non-root callers"
tun_add "$NS" ovpn3
ip -n "$NS" addr add 10.50.0.1/24 dev ovpn3
U=(dev=ovpn3 ifconfig_local=10.50.0.1 ifconfig_netmask=255.255.255.0 script_type=up)
HOOK_PREFIX=(setpriv --reuid=65534 --regid=65534 --clear-groups)
before=$(kernel_snapshot)
hook -- "${U[@]}"
check "uid 65534 without RegisterUser=: exit 0" test "$HOOK_RC" = 0
check "uid 65534 without RegisterUser=: one line" one_line_err
check "uid 65534: the refusal is the agent's (permission)" grep -qi 'refused\|permission\|may not' "$T/hook.err"
sed 's/^/#   /' "$T/hook.err"
hook --strict -- "${U[@]}"
check "uid 65534 without RegisterUser=, --strict: exit 1" test "$HOOK_RC" = 1
assert_eq "uid 65534 refused: kernel unchanged" "$before" "$(kernel_snapshot)"
check_fail "uid 65534 refused: ovpn3 not managed" has_route 10.50.0.0/24

write_conf "$T/root.conf" '[Control]' 'RegisterUser=nobody'
check "reload with RegisterUser=nobody" ctl "$NS" reload
before=$(kernel_snapshot)
hook --strict -- "${U[@]}"
check "uid 65534 with RegisterUser=nobody, ovpn3 never registered by root, --strict: exit 1" test "$HOOK_RC" = 1
check "... the reason: not registered by root" \
        grep -q 'PermissionDenied: ovpn3 was not registered by root: uid 65534 may only confirm a registration that root made' "$T/hook.err"
check "... logged" grep -q 'Refused RegisterTunnel of ovpn3 from uid 65534: root registered no such device' "$T/agent-$NS.log"
assert_eq "... kernel unchanged" "$before" "$(kernel_snapshot)"
check_fail "... ovpn3 not managed" has_route 10.50.0.0/24
HOOK_PREFIX=()
hook --strict -- "${U[@]}" config=/etc/openvpn/server/ovpn3.conf daemon_pid=$$
check "root registers ovpn3 (as OpenVPN's up hook at start): exit 0" test "$HOOK_RC" = 0
HOOK_PREFIX=(setpriv --reuid=65534 --regid=65534 --clear-groups)
hook -- "${U[@]}" config=/dev/zero daemon_pid=1
check "uid 65534 with RegisterUser=nobody confirms root's registration: exit 0" test "$HOOK_RC" = 0
check "uid 65534 with RegisterUser=nobody: silent" test ! -s "$T/hook.err"
check "uid 65534 with RegisterUser=nobody: route in when the hook returns" has_route 10.50.0.0/24
check "status: ovpn3 registered by root, with root's config and daemon_pid (the caller's ignored)" \
        jq -e --argjson pid $$ '.devices[] | select(.name == "ovpn3" and .registered and .registered_by_uid == 0
                and .config == "/etc/openvpn/server/ovpn3.conf" and .daemon_pid == $pid)' <<<"$(status)"

tun_add "$NS" ovpn4
ip -n "$NS" addr add 10.60.0.1/24 dev ovpn4
U4=(dev=ovpn4 ifconfig_local=10.60.0.1 ifconfig_netmask=255.255.255.0)
HOOK_PREFIX=(setpriv --reuid=65533 --regid=65533 --clear-groups)
hook --strict -- "${U4[@]}"
check "uid 65533 (not allowed), --strict: exit 1" test "$HOOK_RC" = 1
check_fail "uid 65533: ovpn4 not managed" has_route 10.60.0.0/24
write_conf "$T/root.conf" '[Control]' 'RegisterGroup=nogroup'
check "reload with RegisterGroup=nogroup" ctl "$NS" reload
hook --strict -- "${U4[@]}"
check "uid 65533 gid 65533 (not in nogroup), --strict: exit 1" test "$HOOK_RC" = 1
HOOK_PREFIX=(setpriv --reuid=65533 --regid=65534 --clear-groups)
hook --strict -- "${U4[@]}"
check "uid 65533 gid 65534 (nogroup) with RegisterGroup=nogroup, ovpn4 not registered by root: exit 1" \
        test "$HOOK_RC" = 1
check_fail "RegisterGroup, not registered by root: ovpn4 not managed" has_route 10.60.0.0/24
HOOK_PREFIX=()
hook --strict -- "${U4[@]}"
check "root registers ovpn4: exit 0" test "$HOOK_RC" = 0
HOOK_PREFIX=(setpriv --reuid=65533 --regid=65534 --clear-groups)
hook --strict -- "${U4[@]}"
check "uid 65533 gid 65534 (nogroup) with RegisterGroup=nogroup confirms root's registration: exit 0" \
        test "$HOOK_RC" = 0
check "RegisterGroup: route in when the hook returns" has_route 10.60.0.0/24
HOOK_PREFIX=(setpriv --reuid=65534 --regid=65533 --clear-groups)
hook --strict -- dev=ovpn3 ifconfig_local=10.50.0.1 ifconfig_netmask=255.255.255.0
check "RegisterUser= dropped by the reload: uid 65534 gid 65533 refused again (--strict: 1)" test "$HOOK_RC" = 1
HOOK_PREFIX=()

# ---------------------------------------------------------------------------------------------------------
info "agent hung (SIGSTOP): bounded"
kill -STOP "$AGENT_PID"
stopped=$AGENT_PID
defer sh -c "kill -CONT $stopped 2>/dev/null || true"
hook -- "${GOOD[@]}"
check "hung agent: exit 0" test "$HOOK_RC" = 0
check "hung agent: within 2.5 s ($HOOK_MS ms)" test "$HOOK_MS" -lt 2500
check "hung agent: took about the 2 s bound, not less than 1.5 s ($HOOK_MS ms)" test "$HOOK_MS" -ge 1500
check "hung agent: one line" one_line_err
sed 's/^/#   /' "$T/hook.err"
echo "# HOOK with a SIGSTOPped agent: $HOOK_MS ms (default bound)"
hook --strict -- "${GOOD[@]}"
check "hung agent, --strict: exit 1" test "$HOOK_RC" = 1
check "hung agent, --strict: within 2.5 s ($HOOK_MS ms)" test "$HOOK_MS" -lt 2500
hook --timeout-ms 300 -- "${GOOD[@]}"
check "hung agent, --timeout-ms 300: exit 0 within 1 s ($HOOK_MS ms)" test "$HOOK_RC" = 0 -a "$HOOK_MS" -lt 1000
kill -CONT "$AGENT_PID"
check "agent survives the abandoned calls" wait_until 3000 ctl "$NS" status --json
check "agent still running after SIGCONT" _vpt_alive "$AGENT_PID"
hook -- "${GOOD[@]}"
check "after SIGCONT the hook works again" test "$HOOK_RC" = 0 -a ! -s "$T/hook.err"

# ---------------------------------------------------------------------------------------------------------
info "agent not running"
agent_stop
check "agent stopped with 0" test "$AGENT_RC" = 0
hook -- "${GOOD[@]}"
check "agent stopped (stale socket): exit 0" test "$HOOK_RC" = 0
check "agent stopped: within 2.5 s ($HOOK_MS ms)" test "$HOOK_MS" -lt 2500
check "agent stopped: one line" one_line_err
sed 's/^/#   /' "$T/hook.err"
hook --strict -- "${GOOD[@]}"
check "agent stopped, --strict: exit 1" test "$HOOK_RC" = 1
mkdir -p "$T/empty-run"
HOOK_RUNDIR=$T/empty-run
hook -- "${GOOD[@]}"
check "no socket at all: exit 0" test "$HOOK_RC" = 0
check "no socket at all: within 2.5 s ($HOOK_MS ms)" test "$HOOK_MS" -lt 2500
check "no socket at all: one line" one_line_err
hook --strict -- "${GOOD[@]}"
check "no socket at all, --strict: exit 1" test "$HOOK_RC" = 1
HOOK_RUNDIR=
hook -- dev=ovpn0 'ifconfig_netmask=bad'
check "bad input with no agent: still refused with exit 0" test "$HOOK_RC" = 0
check "bad input with no agent: one line" one_line_err

# ---------------------------------------------------------------------------------------------------------
info "a hostile or broken agent: the hook never takes its reply for a success"
command -v socat >/dev/null || die "socat is missing (tests/run.sh installs it)"
mkdir -p "$T/fake-run"
HOOK_RUNDIR=$T/fake-run
# fake_reply FILE: an "agent" at $T/fake-run/io.vpnpolicy that reads the start of each request, as the
# agent would, and answers with FILE's bytes. Ready once it answers: its socket file exists from bind(),
# before listen().
fake_reply() {
        local sock=$T/fake-run/io.vpnpolicy
        rm -f "$sock"
        socat "UNIX-LISTEN:$sock,fork" SYSTEM:"dd bs=1 count=1 status=none >/dev/null; cat '$1'" &
        FAKE_PID=$!
        register_pid "$FAKE_PID"
        wait_until 2000 sh -c "printf x | socat - 'UNIX-CONNECT:$sock' >/dev/null"
}
# fake NAME EXPECT_RC REPLY_FILE [--strict]: the hook against that reply
fake() {
        local name=$1 rc=$2 file=$3
        shift 3
        fake_reply "$file"
        hook "$@" -- "${GOOD[@]}"
        kill "$FAKE_PID" 2>/dev/null || true
        wait "$FAKE_PID" 2>/dev/null || true
        check "$name: exit $rc" test "$HOOK_RC" = "$rc"
        check_fail "$name: the fake agent was reached" grep -q 'Connection refused' "$T/hook.err"
}
printf '{}\0' >"$T/r-ok"
fake "reply {}: a success" 0 "$T/r-ok" --strict
check "reply {}: silent" test ! -s "$T/hook.err"
printf '{"parameters":{"dev":"ovpn0"}\0' >"$T/r-cut"
fake "a reply cut short" 1 "$T/r-cut" --strict
check "a reply cut short: one line, called malformed" grep -q 'malformed reply' "$T/hook.err"
fake "a reply cut short, without --strict" 0 "$T/r-cut"
check "without --strict: one line" one_line_err
printf '{"parameters":{},"error":"a","error":"b"}\0' >"$T/r-dup"
fake "error given twice" 1 "$T/r-dup" --strict
check "error given twice: malformed" grep -q 'malformed reply' "$T/hook.err"
printf '{"error":null,"parameters":{}}\0' >"$T/r-null"
fake "error null" 1 "$T/r-null" --strict
check "error null: malformed" grep -q 'malformed reply' "$T/hook.err"
printf '{"error":"x.Evil","parameters":{"reason":"a\\nb\\u001b[31mred\\u0007"}}\0' >"$T/r-evil"
fake "a reason with a newline and escape sequences" 1 "$T/r-evil" --strict
sed 's/^/#   /' "$T/hook.err"
check "the agent's reason stays one line" one_line_err
check "no control character reaches OpenVPN's log" test -z "$(tr -d '\n' <"$T/hook.err" | tr -d '[:print:]')"
check "the reason is shown, defused" grep -qF 'x.Evil: a?b?[31mred?' "$T/hook.err"
head -c 70000 /dev/zero | tr '\0' ' ' >"$T/r-big"
fake "a reply larger than 64 KiB" 1 "$T/r-big" --strict
check "a reply larger than 64 KiB: too long" grep -q 'too long' "$T/hook.err"
: >"$T/r-empty"
fake "closed without a reply" 1 "$T/r-empty" --strict
check "closed without a reply: one line" one_line_err
check "closed without a reply: said so" grep -q 'Connection reset' "$T/hook.err"
HOOK_RUNDIR=

finish
