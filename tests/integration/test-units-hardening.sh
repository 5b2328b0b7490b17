#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The hardened unit, checked twice:
#   1. statically: `systemd-analyze security --offline=yes units/vpnpolicyd.service` rates it at most 1.5,
#      `systemd-analyze verify` has nothing to say about the units, and the drop-in orders every
#      openvpn-server@ instance after vpnpolicyd;
#   2. by running the daemon by hand under what the unit sets, as far as that goes outside systemd: an
#      unprivileged uid of the DynamicUser= range with CAP_NET_ADMIN and CAP_NET_RAW alone (ambient,
#      inheritable, bounding), no_new_privs, umask 0077, in a mount namespace where every file system is read-only
#      but the runtime directory and /proc/sys/net (ProtectSystem=strict, ProtectKernelTunables=yes,
#      ReadWritePaths=/proc/sys/net) and /home, /root are empty (ProtectHome=). The rt_tables.d and
#      rt_protos.d names are written first by `--install-names` as root, as ExecStartPre=+ does. Under
#      it: READY, rules and routes in place, sysctls written, a deleted rule and route restored, status
#      for root, SIGHUP reloads (and a new table name fails cleanly until --install-names ran: why
#      ExecReload= runs it first), SIGTERM leaves everything in place. With two gateways the probes run
#      (raw ICMP sockets, SO_MARK), see both gateways up and move the default route when one dies behind
#      its link. A second run, with the probes, under strace shows
#      that every system call the daemon makes passes the unit's SystemCallFilter= and every socket it
#      opens passes RestrictAddressFamilies=. The unit's IP allow list admits every unicast range and no
#      loopback, multicast or broadcast one.
# Not emulated here: the seccomp filter itself (checked against strace instead), PrivateDevices=,
# PrivateTmp=, IPAddressDeny= (no IP sockets anyway), the socket unit (tested in test-units-socket.sh); the
# real unit under the real systemd is test-units-systemd.sh.

SELF=$(readlink -f "$0")
DYN_UID=65426           # in systemd's DynamicUser= range (61184-65519), no account here

# --sandbox DAEMON ARGS...: the AGENT_WRAPPER. A private mount namespace, then --sandbox-inside.
# --sandbox-inside DAEMON ARGS...: the unit's file system view, then drop to DYN_UID with CAP_NET_ADMIN and
# CAP_NET_RAW (what the unit's AmbientCapabilities= grants).
# With VPT_STRACE=FILE the daemon runs under strace (itself unprivileged, inside the same sandbox).
sandbox_inside() {
        local run=${VPT_RUN:-} prev='' m target
        for m in "$@"; do
                [[ $prev == --runtime-dir ]] && run=$m
                prev=$m
        done
        [[ -n $run && -d $run ]] || { echo "sandbox: no --runtime-dir" >&2; exit 1; }
        set -e
        # ProtectKernelTunables=yes + ReadWritePaths=/proc/sys/net; RuntimeDirectory= stays writable.
        mount --bind /proc/sys /proc/sys
        mount --bind /proc/sys/net /proc/sys/net
        mount --bind "$run" "$run"
        # ProtectHome=yes (unless the tree under test lives there)
        for m in /home /root /run/user; do
                [[ -d $m && $SELF != "$m"/* && $1 != "$m"/* && $run != "$m"/* ]] || continue
                mount -t tmpfs -o ro,mode=0000 tmpfs "$m"
        done
        # ProtectSystem=strict: every mount read-only but the API file systems and the two above.
        while read -r target; do
                target=$(printf '%b' "$target")
                case $target in
                /proc/sys) ;;
                /proc | /proc/* | /sys | /sys/* | /dev | /dev/*) continue ;;
                esac
                [[ $target == "$run" ]] && continue
                mount -o remount,bind,ro "$target" 2>/dev/null ||
                        echo "sandbox: could not make $target read-only" >&2
        done < <(findmnt -rn -o TARGET)
        set +e
        umask 0077
        local -a strace=()
        if [[ -n ${VPT_STRACE:-} ]]; then
                strace=(strace -f -qq -s 0 -o "$VPT_STRACE" --)
                # A sanitizer build: LeakSanitizer cannot work under ptrace.
                export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
        fi
        exec setpriv --reuid="$DYN_UID" --regid="$DYN_UID" --clear-groups --no-new-privs \
                --inh-caps=-all,+net_admin,+net_raw --ambient-caps=-all,+net_admin,+net_raw \
                --bounding-set=-all,+net_admin,+net_raw \
                -- "${strace[@]}" "$@"
}
case ${1:-} in
--sandbox)
        shift
        exec unshare --mount --propagation private -- bash "$SELF" --sandbox-inside "$@"
        ;;
--sandbox-inside)
        shift
        sandbox_inside "$@"
        ;;
esac

set -euo pipefail
export AGENT_WRAPPER="bash $SELF --sandbox"
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"

UNITS=$SOURCE_ROOT/units
for tool in systemd-analyze setpriv unshare findmnt; do
        command -v "$tool" >/dev/null || skip_test "$tool is missing"
done
! getent passwd "$DYN_UID" >/dev/null || skip_test "uid $DYN_UID has an account here"

# ---------------------------------------------------------------------------------------------------------
info "static: systemd-analyze $(systemctl --version | head -n1)"
sec=$(systemd-analyze security --offline=yes --no-pager "$UNITS/vpnpolicyd.service" 2>&1) || true
score=$(sed -n 's/.*Overall exposure level for vpnpolicyd\.service: \([0-9.]*\).*/\1/p' <<<"$sec")
info "figure: exposure-level $score"
grep '✗' <<<"$sec" | sed 's/^/#   /' || true
check "exposure level is at most 1.5 (got '${score:-none}')" \
        awk -v s="$score" 'BEGIN { exit !(s != "" && s + 0 <= 1.5) }'
unit=$UNITS/vpnpolicyd.service
check "the unit grants CAP_NET_ADMIN and CAP_NET_RAW, nothing else" \
        grep -qx 'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW' "$unit"
check "IPAddressDeny=any stays" grep -qx 'IPAddressDeny=any' "$unit"
# The allow list, as systemd would apply it: every unicast range, no loopback, multicast or broadcast.
allowed() { # ADDRESS: is it inside one of the unit's IPAddressAllow= prefixes?
        python3 - "$1" "$unit" <<'PY'
import ipaddress, sys
addr = ipaddress.ip_address(sys.argv[1])
nets = [ipaddress.ip_network(p) for l in open(sys.argv[2]) if l.startswith("IPAddressAllow=")
        for p in l.split("=", 1)[1].split()]
sys.exit(0 if any(addr.version == n.version and addr in n for n in nets) else 1)
PY
}
for a in 192.168.1.1 10.0.0.1 100.64.1.1 198.51.100.1 8.8.8.8 223.255.255.254 1.1.1.1 \
        2001:db8::1 fd00:1010:1010:1010::1 fe80::1; do
        check "IPAddressAllow= admits the unicast address $a" allowed "$a"
done
for a in 127.0.0.1 224.0.0.1 239.255.255.250 255.255.255.255 240.0.0.1 ::1 ff02::1; do
        check_fail "IPAddressAllow= refuses $a" allowed "$a"
done

# verify: the units as installed, pointing at the binaries under test, man pages from docs/.
mkdir -p "$T/units" "$T/man/man5" "$T/man/man8"
ln -s "$SOURCE_ROOT"/docs/*.8 "$T/man/man8/"
ln -s "$SOURCE_ROOT"/docs/*.5 "$T/man/man5/"
sed "s|/usr/sbin/vpnpolicyd|$VPNPOLICYD|g" "$UNITS/vpnpolicyd.service" >"$T/units/vpnpolicyd.service"
cp "$UNITS/vpnpolicyd.socket" "$T/units/"
cp -r "$UNITS/openvpn-server@.service.d" "$UNITS/openvpn@.service.d" "$UNITS/wg-quick@.service.d" "$T/units/"
rc=0
out=$(cd "$T/units" && MANPATH=$T/man systemd-analyze verify vpnpolicyd.service vpnpolicyd.socket 2>&1) || rc=$?
[[ -z $out ]] || sed 's/^/#   /' <<<"$out"
assert_eq "systemd-analyze verify: exit 0 and silent" "0|" "$rc|$out"
check "the source units name /usr/sbin/vpnpolicyd" grep -q '^ExecStart=/usr/sbin/vpnpolicyd$' "$UNITS/vpnpolicyd.service"
if [[ -f /lib/systemd/system/openvpn-server@.service || -f /usr/lib/systemd/system/openvpn-server@.service ]]; then
        # The unit dump at debug level shows the dependencies of a loaded instance.
        out=$(cd "$T/units" && SYSTEMD_UNIT_PATH=$T/units: SYSTEMD_LOG_LEVEL=debug MANPATH=$T/man \
                systemd-analyze verify openvpn-server@demo.service 2>&1) || true
        check "openvpn-server@demo.service gets the drop-in" grep -q 'DropIn Path: .*/openvpn-server@.service.d/vpnpolicy.conf' <<<"$out"
        check "openvpn-server@demo.service is ordered after vpnpolicyd.service" \
                grep -qE '^\s+After: vpnpolicyd\.service' <<<"$out"
        check "openvpn-server@demo.service wants vpnpolicyd.service" grep -qE '^\s+Wants: vpnpolicyd\.service' <<<"$out"
        check_fail "openvpn-server@demo.service does not require it" grep -qE '^\s+(Requires|BindsTo): vpnpolicyd' <<<"$out"
else
        info "openvpn-server@.service not installed: drop-in ordering not checked"
fi
if [[ -f /lib/systemd/system/wg-quick@.service || -f /usr/lib/systemd/system/wg-quick@.service ]]; then
        out=$(cd "$T/units" && SYSTEMD_UNIT_PATH=$T/units: SYSTEMD_LOG_LEVEL=debug MANPATH=$T/man \
                systemd-analyze verify wg-quick@demo.service 2>&1) || true
        check "wg-quick@demo.service gets the drop-in" grep -q 'DropIn Path: .*/wg-quick@.service.d/vpnpolicy.conf' <<<"$out"
        check "wg-quick@demo.service is ordered after vpnpolicyd.service" grep -qE '^\s+After: vpnpolicyd\.service' <<<"$out"
        check "wg-quick@demo.service wants vpnpolicyd.service" grep -qE '^\s+Wants: vpnpolicyd\.service' <<<"$out"
fi

# ---------------------------------------------------------------------------------------------------------
info "the daemon under the unit's restrictions (uid $DYN_UID, CAP_NET_ADMIN and CAP_NET_RAW only, read-only file systems)"
ns_new NS
ns_new GW
veth_add "$NS" eth1 "$GW" eth0
ip -n "$NS" addr add 192.168.1.100/24 dev eth1
ip -n "$GW" addr add 192.168.1.1/24 dev eth0
ns_new GW2
veth_add "$NS" eth2 "$GW2" eth0
ip -n "$NS" addr add 192.168.2.100/24 dev eth2
ip -n "$GW2" addr add 192.168.2.1/24 dev eth0
tun_add "$NS" tun0
ip -n "$NS" addr add 10.10.10.1/24 dev tun0
ns_exec "$NS" sysctl -qw net.ipv4.ip_forward=0 net.ipv4.conf.all.send_redirects=1 \
        net.ipv4.conf.eth1.send_redirects=1 net.ipv4.conf.tun0.send_redirects=1 >/dev/null
conf=$T/vpnpolicy.conf
write_conf() { # TABLE-NAME PRIORITY
        printf '[Table]\nName=%s\nId=200\nPriority=%s\n[Pool]\nPrefix=10.10.10.0/24\n[Gateway]\nIPv4=192.168.1.1\nDevice=eth1\n[Kernel]\nForwarding=enable\nSendRedirects=no\nFailClosed=yes\n' \
                "$1" "$2" >"$conf"
}
write_conf vpn 32765
chmod 0644 "$conf"

names=/etc/netns/$NS/iproute2
check "--install-names as root writes the names (ExecStartPre=+)" ns_exec "$NS" "$VPNPOLICYD" --config "$conf" --install-names
check "rt_tables.d/vpnpolicy.conf names table 200 vpn" grep -qE '^200\s+vpn$' "$names/rt_tables.d/vpnpolicy.conf"
check "rt_protos.d/vpnpolicy.conf names protocol vpnpolicy" grep -qE '^211\s+vpnpolicy$' "$names/rt_protos.d/vpnpolicy.conf"
stamp_before=$(stat -c '%i %Y' "$names/rt_tables.d/vpnpolicy.conf" "$names/rt_protos.d/vpnpolicy.conf")

run=$T/run-$NS
mkdir -p "$run"
chown "$DYN_UID:$DYN_UID" "$run"        # RuntimeDirectory= belongs to the service's user
chmod 0755 "$run"
# sd_notify() from another uid needs write access to the notification socket (systemd's is 0777).
_vpt_notify_ensure "$NS"
chmod 0666 "$T/notify-$NS.sock"

# The sandbox is real: as the daemon sees it, / and /etc are read-only, /proc/sys too but for net.
probe() { VPT_RUN=$run ip netns exec "$NS" bash "$SELF" --sandbox "$@"; }
check_fail "sandbox: /etc is read-only" probe sh -c ': >"$1"' sh "$names/rt_tables.d/probe"
check_fail "sandbox: /proc/sys/kernel is read-only" probe sh -c 'echo 1 >/proc/sys/kernel/sysrq'
check "sandbox: /proc/sys/net is writable with CAP_NET_ADMIN" \
        probe sh -c 'echo 0 >/proc/sys/net/ipv4/conf/lo/send_redirects'
check "sandbox: the runtime directory is writable" probe sh -c ': >"$0/probe" && rm "$0/probe"' "$run"
check_fail "sandbox: no CAP_DAC_OVERRIDE (root's files stay closed)" probe cat /etc/shadow

agent_start "$NS" "$conf"
check "READY=1 under the restrictions" test -n "$AGENT_READY_MS"
status=/proc/$AGENT_PID/status
info "daemon: $(grep -E '^(Uid|Gid|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' "$status" | tr -s '\t\n' '  ')"
check "the daemon is the process started (comm vpnpolicyd)" grep -qx vpnpolicyd "/proc/$AGENT_PID/comm"
check "runs as uid $DYN_UID" grep -qE "^Uid:\s+$DYN_UID\s+$DYN_UID\s+$DYN_UID\s+$DYN_UID$" "$status"
check "no supplementary groups" grep -qE '^Groups:\s*$' "$status"
for c in CapPrm CapEff CapBnd CapAmb; do
        check "$c is CAP_NET_ADMIN and CAP_NET_RAW alone" grep -qE "^$c:\s+0000000000003000$" "$status"
done
check "no_new_privs is set" grep -qE '^NoNewPrivs:\s+1$' "$status"

assert_eq "the source rule is in" \
        '[{"priority":32765,"src":"10.10.10.0","srclen":24,"table":"vpn","protocol":"vpnpolicy"}]' \
        "$(source_rules_json "$NS" 4 vpnpolicy)"
want_routes='[{"dst":"default","gateway":"192.168.1.1","dev":"eth1","type":"unicast","metric":0,"protocol":"vpnpolicy"},
 {"dst":"default","type":"unreachable","metric":4294967295,"protocol":"vpnpolicy"},
 {"dst":"10.10.10.0/24","dev":"tun0","type":"unicast","metric":0,"protocol":"vpnpolicy"}]'
assert_eq "the default, fail-closed and tun routes are in table vpn" "$want_routes" "$(routes_json "$NS" 4 vpn vpnpolicy)"
sysctl_of() { ns_exec "$NS" sysctl -n "$1"; }
assert_eq "forwarding enabled (net.ipv4.ip_forward)" 1 "$(sysctl_of net.ipv4.ip_forward)"
assert_eq "send_redirects off on eth1" 0 "$(sysctl_of net.ipv4.conf.eth1.send_redirects)"
assert_eq "send_redirects off on tun0" 0 "$(sysctl_of net.ipv4.conf.tun0.send_redirects)"
assert_eq "send_redirects off on all" 0 "$(sysctl_of net.ipv4.conf.all.send_redirects)"
assert_eq "the names were not rewritten (nothing to write, and no right to)" "$stamp_before" \
        "$(stat -c '%i %Y' "$names/rt_tables.d/vpnpolicy.conf" "$names/rt_protos.d/vpnpolicy.conf")"
if command -v nft >/dev/null; then
        check "the nftables table is in (NETLINK_NETFILTER with CAP_NET_ADMIN alone)" \
                wait_until 3000 ns_exec "$NS" nft list table inet vpnpolicy
fi
check "the control socket is in the runtime directory" test -S "$run/io.vpnpolicy"
check "root can read the status" ctl "$NS" status
check "status --json: healthy" eval 'ctl "$NS" status --json | jq -e ".health == \"healthy\""'

info "restore under the restrictions"
ip -n "$NS" rule del pref 32765 from 10.10.10.0/24
check "a deleted rule is restored" wait_until 3000 eval \
        '[[ $(source_rules_json "$NS" 4 vpnpolicy | jq length) == 1 ]]'
ip -n "$NS" route del default via 192.168.1.1 dev eth1 table 200
wait_until 3000 eval '[[ $(routes_json "$NS" 4 vpn vpnpolicy | jq length) == 3 ]]' || true
assert_eq "a deleted route is restored" "$want_routes" "$(routes_json "$NS" 4 vpn vpnpolicy)"

info "reload under the restrictions (SIGHUP, as ExecReload= sends)"
write_conf vpn 32000
n=$(notify_lines "$NS")
kill -HUP "$AGENT_PID"
check "SIGHUP: RELOADING=1 then READY=1" notify_wait "$NS" READY=1 5000 "$n"
check "the rule moved to priority 32000" wait_until 3000 eval \
        '[[ $(source_rules_json "$NS" 4 vpnpolicy | jq -c "map(.priority)") == "[32000]" ]]'
# A new table name needs a new rt_tables.d line: the daemon may not write it, so without the unit's
# `ExecReload=+vpnpolicyd --install-names` the reload fails and the old configuration stays.
write_conf vpnx 32000
n=$(notify_lines "$NS")
kill -HUP "$AGENT_PID"
notify_wait "$NS" READY=1 5000 "$n" || true
check "a new table name without --install-names: reload refused" wait_until 3000 eval \
        '[[ $(ctl "$NS" status --json | jq .counters.reload_failures) == 1 ]]'
check "... and the old rule stays" eval '[[ $(source_rules_json "$NS" 4 vpnpolicy | jq -r ".[0].table") == vpn ]]'
check "--install-names as root (ExecReload=+) names vpnx" ns_exec "$NS" "$VPNPOLICYD" --config "$conf" --install-names
n=$(notify_lines "$NS")
kill -HUP "$AGENT_PID"
check "then SIGHUP: READY=1" notify_wait "$NS" READY=1 5000 "$n"
check "the rule now looks up vpnx" wait_until 3000 eval \
        '[[ $(source_rules_json "$NS" 4 vpnpolicy | jq -r ".[0].table") == vpnx ]]'
check "agent alive" _vpt_alive "$AGENT_PID"

agent_stop TERM
assert_eq "SIGTERM: exit status 0" 0 "$AGENT_RC"
check "SIGTERM leaves the rule in place" eval '[[ $(source_rules_json "$NS" 4 vpnpolicy | jq length) == 1 ]]'

# ---------------------------------------------------------------------------------------------------------
info "gateway probes under the restrictions (raw ICMP sockets with CAP_NET_RAW, SO_MARK with CAP_NET_ADMIN)"
conf2=$T/vpnpolicy-two.conf
printf '[Table]\nName=vpnx\nId=200\nPriority=32000\n[Pool]\nPrefix=10.10.10.0/24\n' >"$conf2"
for g in a:192.168.1.1:eth1:10 b:192.168.2.1:eth2:20; do
        IFS=: read -r name addr dev prio <<<"$g"
        printf '[Gateway]\nName=%s\nIPv4=%s\nDevice=%s\nPriority=%s\nProbeIntervalSec=200ms\nProbeTimeoutSec=200ms\n' \
                "$name" "$addr" "$dev" "$prio" >>"$conf2"
done
printf '[Kernel]\nForwarding=enable\n' >>"$conf2"
chmod 0644 "$conf2"
gw_state() { ctl "$NS" status --json | jq -r --arg g "$1" '.policies[0].gateways[] | select(.name == $g) | .health.ipv4.state'; }
agent_start "$NS" "$conf2"
check "gateway a is up by its probes" wait_until 3000 eval '[[ $(gw_state a) == up ]]'
check "gateway b is up by its probes" wait_until 3000 eval '[[ $(gw_state b) == up ]]'
counters=$(ctl "$NS" status --json | jq -c '.counters | {probes_sent, probe_replies, probe_send_errors}')
info "probe counters: $counters"
check "probes went out and were answered, none failed to send" \
        jq -e '.probes_sent > 0 and .probe_replies > 0 and .probe_send_errors == 0' <<<"$counters"
check "the default route goes by a" wait_until 2000 eval \
        '[[ $(ip -n "$NS" -j route show table 200 default | jq -r ".[0].gateway") == 192.168.1.1 ]]'
# a stops answering (its link stays up): only the probes can tell
ns_exec "$GW" nft -f - <<'NFT'
table inet deaf {
        chain deaf { type filter hook input priority 0; policy accept; icmp type echo-request drop; }
}
NFT
check "a silent gateway is taken out: the default route goes by b" wait_until 3000 eval \
        '[[ $(ip -n "$NS" -j route show table 200 default | jq -r ".[0].gateway") == 192.168.2.1 ]]'
check "... and status says a is down" eval '[[ $(gw_state a) == down ]]'
ns_exec "$GW" nft delete table inet deaf
agent_stop TERM

# ---------------------------------------------------------------------------------------------------------
# SystemCallFilter=@system-service ~@privileged ~@resources and RestrictAddressFamilies=AF_NETLINK AF_UNIX
# AF_INET AF_INET6, against what the daemon really calls: start with probes, reload, restore, status, stop,
# all under strace.
if command -v strace >/dev/null; then
        info "system calls and socket families under strace"
        # In the runtime directory: the only place the sandboxed strace may write to.
        export VPT_STRACE=$run/strace.log
        agent_start "$NS" "$conf2"
        unset VPT_STRACE
        check "under strace: probes answered" wait_until 3000 eval '[[ $(gw_state b) == up ]]'
        # AGENT_PID is strace now: signals go to the daemon, its child (strace would detach on them).
        daemon=$(ps -o pid= --ppid "$AGENT_PID" | tr -d ' ')
        check "strace runs the daemon as its child" grep -qx vpnpolicyd "/proc/${daemon:-0}/comm"
        ip -n "$NS" rule del pref 32000 from 10.10.10.0/24
        check "under strace: a deleted rule is restored" wait_until 3000 eval \
                '[[ $(source_rules_json "$NS" 4 vpnpolicy | jq length) == 1 ]]'
        n=$(notify_lines "$NS")
        kill -HUP "$daemon"
        check "under strace: SIGHUP reloads" notify_wait "$NS" READY=1 5000 "$n"
        check "under strace: status for root" ctl "$NS" status
        kill -TERM "$daemon"
        wait_until 5000 _vpt_dead "$AGENT_PID" || true
        agent_stop TERM
        assert_eq "SIGTERM under strace: exit status 0" 0 "$AGENT_RC"

        # expand GROUP: the system calls of a systemd syscall group, nested groups expanded.
        expand() {
                systemd-analyze syscall-filter "$1" | sed -n '2,$p' | sed 's/^ *//; /^#/d; /^$/d' |
                        while read -r s; do
                                if [[ $s == @* ]]; then expand "$s"; else echo "$s"; fi
                        done
        }
        expand @system-service | sort -u >"$T/allowed.0"
        { expand @privileged; expand @resources; } | sort -u >"$T/denied"
        comm -23 "$T/allowed.0" "$T/denied" >"$T/allowed"
        # strace -f lines: "PID name(args) = ..." or "PID <... name resumed> ..."
        sed -nE 's/^[0-9]+ +([a-z0-9_]+)\(.*/\1/p; s/^[0-9]+ +<\.\.\. ([a-z0-9_]+) resumed>.*/\1/p' \
                "$run/strace.log" | sort -u >"$T/used"
        info "system calls used: $(tr '\n' ' ' <"$T/used")"
        check "strace saw the daemon work (> 20 distinct system calls)" test "$(wc -l <"$T/used")" -gt 20
        outside=$(comm -23 "$T/used" "$T/allowed" | grep -vx execve || true)
        assert_eq "every system call passes SystemCallFilter=@system-service ~@privileged @resources" "" \
                "$(tr '\n' ' ' <<<"$outside" | sed 's/ $//')"
        families=$(grep -oE '\bsocket\((AF|PF)_[A-Z0-9]+' "$run/strace.log" | sed 's/.*(//' | sort -u | tr '\n' ' ')
        info "socket families: $families"
        assert_eq "every socket passes RestrictAddressFamilies=AF_NETLINK AF_UNIX AF_INET AF_INET6" "" \
                "$(tr ' ' '\n' <<<"$families" | grep -vxE 'AF_NETLINK|AF_UNIX|AF_INET|AF_INET6|' | tr '\n' ' ')"
        check "the probes' raw ICMP socket is among them" grep -qE 'socket\(AF_INET, SOCK_RAW' "$run/strace.log"
else
        info "strace is missing: system calls not checked"
fi

finish
