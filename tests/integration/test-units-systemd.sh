#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The real units under the real systemd: this machine's own OS booted in a container (systemd-nspawn,
# --volatile=yes: a tmpfs root with the host's /usr read-only, a private network namespace), with
# units/vpnpolicyd.{service,socket} installed as they are (only the binary paths pointed at the build)
# and /etc/iproute2 and /etc/vpnpolicy bound in from the test. Inside, this same script (--inside) starts
# the socket, lets the first vpnpolicyctl call activate the service, and checks what the unit promises:
# the privileged ExecStartPre=+ wrote the names, the daemon runs as a transient user with CAP_NET_ADMIN
# and CAP_NET_RAW alone under seccomp, the rules and routes are in, ProtectKernelTunables=yes with ReadWritePaths=
# /proc/sys/net still lets it write the net sysctls, a deleted rule comes back, `systemctl reload`
# validates first (an invalid config fails the reload, the old one stays), calls during a restart are
# queued by the socket, a crash is restarted, an invalid config at start exits 78 without restarts, and
# stopping leaves the routing in place; with two gateways, the probes (raw ICMP with SO_MARK) pass the
# unit's seccomp filter, RestrictAddressFamilies= and IPAddressDeny=/IPAddressAllow= cgroup filter and
# move the default route off a gateway that stops answering. The inside results come back as PASS/FAIL
# lines.
# Skipped when systemd-nspawn is missing or the container cannot boot here.

SELF=$(readlink -f "$0")

# ---------------------------------------------------------------------------------------------------------
# Inside the container, as a oneshot service: checks to /out/results, then power off.
inside() {
        set -uo pipefail
        exec >/out/results 2>&1
        echo "BOOTED: $(systemctl --version | head -n1)"
        pass=0
        ok() { echo "PASS: $1"; }
        no() { echo "FAIL: $1${2:+ ($2)}"; }
        chk() { local n=$1; shift; if "$@" >/dev/null 2>&1; then ok "$n"; else no "$n" "$*"; fi; }
        waitfor() { local i; for ((i = 0; i < ${1}0; i++)); do "${@:2}" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
        conf=/etc/vpnpolicy/vpnpolicy.conf
        write_conf() { # PRIORITY
                printf '[Table]\nName=vpn\nId=200\nPriority=%s\n[Pool]\nPrefix=10.10.10.0/24\n[Gateway]\nIPv4=192.168.1.1\nDevice=veth0\n[Kernel]\nForwarding=enable\nSendRedirects=no\n' \
                        "$1" >"$conf"
        }
        rule_prio() { ip -j rule show | jq -r '.[] | select(.protocol == "vpnpolicy" and (has("iif") | not)) | .priority' | tr '\n' ' ' | sed 's/ $//'; }
        mainpid() { systemctl show -p MainPID --value vpnpolicyd.service; }
        prio_is() { test "$(rule_prio)" = "$1"; }
        active() { test "$(systemctl is-active vpnpolicyd.service)" = active; }

        ip netns add gw
        ip link add veth0 type veth peer name veth1 netns gw
        ip addr add 192.168.1.100/24 dev veth0
        ip link set veth0 up
        ip -n gw addr add 192.168.1.1/24 dev veth1
        ip -n gw link set veth1 up
        ip tuntap add dev tun0 mode tun
        ip addr add 10.10.10.1/24 dev tun0
        ip link set tun0 up
        sysctl -qw net.ipv4.ip_forward=0 net.ipv4.conf.all.send_redirects=1 net.ipv4.conf.veth0.send_redirects=1 \
                net.ipv4.conf.tun0.send_redirects=1
        write_conf 32765

        chk "systemctl start vpnpolicyd.socket" systemctl start vpnpolicyd.socket
        chk "the socket is 0666 (the daemon authorizes per call)" test "$(stat -c %a /run/vpnpolicy/io.vpnpolicy)" = 666
        chk "the service is not running yet" test "$(systemctl is-active vpnpolicyd.service)" != active
        chk "the first vpnpolicyctl call activates the service and is answered" vpnpolicyctl status
        chk "the service is active" test "$(systemctl is-active vpnpolicyd.service)" = active
        pid=$(mainpid)
        st=/proc/$pid/status
        echo "INFO: $(grep -E '^(Uid|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' "$st" | tr -s '\t\n' '  ')"
        # (no awk: /usr/bin/awk is an /etc/alternatives link, and /etc is empty in the container)
        uid=$(sed -nE 's/^Uid:\s+([0-9]+).*/\1/p' "$st")
        chk "runs as the system user vpnpolicy (uid $uid, not root)" test "${uid:-0}" -gt 0 -a "$uid" = "$(id -u vpnpolicy)"
        chk "the control socket is reachable for others (its directory is not private)" \
                test "$(stat -c %a /run/vpnpolicy)" = 755 -a ! -L /run/vpnpolicy
        chk "CapEff is CAP_NET_ADMIN and CAP_NET_RAW alone" grep -qE '^CapEff:\s+0000000000003000$' "$st"
        chk "CapBnd is CAP_NET_ADMIN and CAP_NET_RAW alone" grep -qE '^CapBnd:\s+0000000000003000$' "$st"
        chk "no_new_privs" grep -qE '^NoNewPrivs:\s+1$' "$st"
        chk "seccomp filter on" grep -qE '^Seccomp:\s+2$' "$st"
        chk "ExecStartPre=+ wrote rt_tables.d/vpnpolicy.conf" grep -qE '^200\s+vpn$' /etc/iproute2/rt_tables.d/vpnpolicy.conf
        chk "ExecStartPre=+ wrote rt_protos.d/vpnpolicy.conf" grep -qE '^211\s+vpnpolicy$' /etc/iproute2/rt_protos.d/vpnpolicy.conf
        chk "the source rule is in" test "$(rule_prio)" = 32765
        chk "the default route via the gateway is in" waitfor 3 sh -c 'ip route show table 200 proto 211 | grep -q "^default via 192.168.1.1 dev veth0"'
        chk "the fail-closed route is in" sh -c 'ip route show table 200 proto 211 | grep -q "^unreachable default .*metric 4294967295"'
        chk "the tun route is in" sh -c 'ip route show table 200 proto 211 | grep -q "^10.10.10.0/24 dev tun0"'
        chk "sysctl written under ProtectKernelTunables + ReadWritePaths=/proc/sys/net: ip_forward=1" \
                test "$(sysctl -n net.ipv4.ip_forward)" = 1
        chk "sysctl written: veth0 send_redirects=0" test "$(sysctl -n net.ipv4.conf.veth0.send_redirects)" = 0
        chk "sysctl written: tun0 send_redirects=0" test "$(sysctl -n net.ipv4.conf.tun0.send_redirects)" = 0
        chk "the nftables table is in" waitfor 3 nft list table inet vpnpolicy
        chk "status --json: healthy" sh -c 'vpnpolicyctl status --json | jq -e ".health == \"healthy\""'
        ip rule del pref 32765 from 10.10.10.0/24
        chk "a deleted rule is restored" waitfor 3 prio_is 32765

        write_conf 32000
        chk "systemctl reload (valid config)" systemctl reload vpnpolicyd.service
        chk "the rule moved to 32000" waitfor 3 sh -c 'test "$(ip -j rule show | jq -r ".[] | select(.protocol == \"vpnpolicy\" and (has(\"iif\") | not)) | .priority")" = 32000'
        write_conf 32100
        printf 'Bogus=1\n' >>"$conf"
        chk "systemctl reload with an invalid config fails" sh -c '! systemctl reload vpnpolicyd.service'
        chk "... the daemon stays active" test "$(systemctl is-active vpnpolicyd.service)" = active
        chk "... with the old rule" test "$(rule_prio)" = 32000
        write_conf 32000

        chk "systemctl restart, then a call at once: queued and answered" sh -c 'systemctl restart --no-block vpnpolicyd.service; vpnpolicyctl status'
        waitfor 5 active
        pid=$(mainpid)
        kill -KILL "$pid"
        chk "a crash (SIGKILL) is restarted (Restart=on-failure)" waitfor 8 sh -c \
                'test "$(systemctl is-active vpnpolicyd.service)" = active && test "$(systemctl show -p MainPID --value vpnpolicyd.service)" != '"$pid"
        chk "the rule survived the crash" test "$(rule_prio)" = 32000

        printf 'Bogus=1\n' >>"$conf"
        systemctl restart vpnpolicyd.service
        sleep 4
        chk "an invalid config at start: the daemon exits 78" test "$(systemctl show -p ExecMainStatus --value vpnpolicyd.service)" = 78
        chk "... and is not restarted (RestartPreventExitStatus=78)" test "$(systemctl is-active vpnpolicyd.service)" = failed
        echo "INFO: NRestarts=$(systemctl show -p NRestarts --value vpnpolicyd.service)"
        chk "... and the routing stays" test "$(rule_prio)" = 32000
        write_conf 32000
        systemctl reset-failed vpnpolicyd.service
        chk "fixed config: starts again" systemctl start vpnpolicyd.service
        chk "systemctl stop" systemctl stop vpnpolicyd.service
        chk "stopping leaves the rule in place" test "$(rule_prio)" = 32000
        chk "the socket stays for the next start" test -S /run/vpnpolicy/io.vpnpolicy

        # The gateway probes under the real unit.
        ip netns add gw2
        ip link add veth2 type veth peer name veth3 netns gw2
        ip addr add 192.168.2.100/24 dev veth2
        ip link set veth2 up
        ip -n gw2 addr add 192.168.2.1/24 dev veth3
        ip -n gw2 link set veth3 up
        write_conf 32000
        printf '[Gateway]\nName=b\nIPv4=192.168.2.1\nDevice=veth2\nPriority=200\nProbeIntervalSec=200ms\nProbeTimeoutSec=200ms\n' >>"$conf"
        printf '[Gateway]\nProbeIntervalSec=200ms\nProbeTimeoutSec=200ms\n' >>"$conf"
        chk "two gateways: systemctl start" systemctl start vpnpolicyd.service
        chk "both gateways up by their probes" waitfor 5 sh -c \
                'vpnpolicyctl status --json | jq -e "[.policies[0].gateways[].health.ipv4.state] == [\"up\", \"up\"]"'
        echo "INFO: probes: $(vpnpolicyctl status --json | jq -c '.counters | {probes_sent, probe_replies, probe_send_errors}')"
        chk "probes answered under the unit's IP filter, none refused" sh -c \
                'vpnpolicyctl status --json | jq -e ".counters.probe_replies > 0 and .counters.probe_send_errors == 0"'
        ip netns exec gw nft -f - <<'NFT'
table inet deaf {
        chain deaf { type filter hook input priority 0; policy accept; icmp type echo-request drop; }
}
NFT
        chk "a gateway that stops answering: the default route moves to the other" waitfor 5 sh -c \
                'ip -j route show table 200 default | jq -e ".[0].gateway == \"192.168.2.1\""'
        chk "systemctl stop (two gateways)" systemctl stop vpnpolicyd.service
        journalctl -q -u vpnpolicyd.service -u vpnpolicyd.socket --no-pager >/out/journal.txt 2>&1
        echo "DONE"
        systemctl poweroff --no-block
}
if [[ ${1:-} == --inside ]]; then
        inside
        exit 0
fi

# ---------------------------------------------------------------------------------------------------------
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"

command -v systemd-nspawn >/dev/null || skip_test "systemd-nspawn is missing (package systemd-container)"
[[ -x /lib/systemd/systemd || -x /usr/lib/systemd/systemd ]] || skip_test "no systemd to boot"
command -v jq >/dev/null || skip_test "jq is missing"

agent=$(dirname "$VPNPOLICYD")
ctl=$(dirname "$VPNPOLICYCTL")
mkdir -p "$T/sys/multi-user.target.wants" "$T/out" "$T/iproute2/rt_tables.d" "$T/iproute2/rt_protos.d" "$T/vpnpolicy"
printf '#\n# reserved values\n#\n255\tlocal\n254\tmain\n253\tdefault\n0\tunspec\n' >"$T/iproute2/rt_tables"
chmod -R go+rX "$T"
# The units as in units/, binaries from the build (bound to /opt/vpt in the container).
sed 's|/usr/sbin/vpnpolicyd|/opt/vpt/agent/vpnpolicyd|g' "$SOURCE_ROOT/units/vpnpolicyd.service" >"$T/sys/vpnpolicyd.service"
cp "$SOURCE_ROOT/units/vpnpolicyd.socket" "$T/sys/"
# For a sanitizer build (build-asan): LeakSanitizer needs ptrace, which SystemCallFilter= denies.
mkdir -p "$T/sys/vpnpolicyd.service.d"
printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' >"$T/sys/vpnpolicyd.service.d/asan.conf"
# Nothing else of this machine's enabled services (the bind hides /etc/systemd/system), no first-boot wizard.
ln -s /dev/null "$T/sys/systemd-firstboot.service"
cat >"$T/sys/vpt-check.service" <<EOF
[Unit]
Description=vpnpolicy unit checks
After=basic.target
[Service]
Type=oneshot
Environment=PATH=/opt/vpt/ctl:/usr/sbin:/usr/bin:/sbin:/bin
ExecStart=/bin/bash /opt/vpt/test.sh --inside
TimeoutStartSec=150
[Install]
WantedBy=multi-user.target
EOF
ln -s ../vpt-check.service "$T/sys/multi-user.target.wants/vpt-check.service"

# nspawn leaves empty directories in /run/systemd: take away those it made (if still empty).
for d in /run/systemd/nspawn /run/systemd/nspawn/propagate /run/systemd/nspawn-root; do  # undone LIFO
        [[ -e $d ]] || defer rmdir --ignore-fail-on-non-empty "$d"
done
[[ -e /run/systemd ]] || defer rmdir --ignore-fail-on-non-empty /run/systemd
info "booting this OS in systemd-nspawn (volatile root, private network)"
rc=0
timeout --kill-after=10 180 systemd-nspawn -q --register=no --keep-unit -D / --volatile=yes --private-network \
        --bind-ro="$T/sys:/etc/systemd/system" --bind="$T/out:/out" --bind="$T/iproute2:/etc/iproute2" \
        --bind="$T/vpnpolicy:/etc/vpnpolicy" --bind-ro="$agent:/opt/vpt/agent" --bind-ro="$ctl:/opt/vpt/ctl" \
        --bind-ro="$SOURCE_ROOT/units/sysusers-vpnpolicy.conf:/etc/sysusers.d/vpnpolicy.conf" \
        --bind-ro="$SELF:/opt/vpt/test.sh" --bind=/dev/net/tun \
        -b systemd.unit=multi-user.target systemd.firstboot=off systemd.show_status=false \
        </dev/null >"$T/boot.log" 2>&1 || rc=$?
info "container exited with $rc"
if ! grep -q '^BOOTED' "$T/out/results" 2>/dev/null; then
        sed 's/^/#   boot: /' "$T/boot.log" | tail -n 30
        skip_test "the container did not boot here (exit $rc)"
fi
sed -n 's/^\(BOOTED\|INFO\): /# /p' "$T/out/results"
while IFS= read -r line; do
        case $line in
        PASS:*) _vpt_pass "${line#PASS: }" ;;
        FAIL:*) _vpt_fail "${line#FAIL: }" "in the container" "" ;;
        esac
done < <(grep -E '^(PASS|FAIL): ' "$T/out/results")
check "the checks inside ran to the end" grep -qx DONE "$T/out/results"
if ((${#_VPT_FAILED[@]})) || ! grep -qx DONE "$T/out/results"; then
        echo "--- journal of vpnpolicyd in the container ---"
        tail -n 60 "$T/out/journal.txt" 2>/dev/null | sed 's/^/  | /'
        grep -vE '^(PASS|FAIL|INFO|BOOTED|DONE)' "$T/out/results" | tail -n 30 | sed 's/^/  | /'
fi
finish
