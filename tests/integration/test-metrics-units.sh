#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The metrics units (issue 15), checked twice:
#   1. statically: `systemd-analyze security --offline=yes` rates vpnpolicyd-metrics.service and
#      vpnpolicy-metrics-textfile.service at most 1.5, `systemd-analyze verify` has nothing to say about
#      the four units, and none is enabled by an [Install] section of its own making;
#   2. under the real systemd: this machine's OS booted in a container (systemd-nspawn, volatile root,
#      private network) with vpnpolicyd's units and the metrics units installed as they are (binary paths
#      pointed at the build). Inside: the group from the shipped sysusers.d file, [Control]
#      ReadGroup=vpnpolicy; the first connection to vpnpolicyd-metrics.socket starts the service, which
#      serves vpnpolicy_up 1 as a transient user in that group with no capability, no_new_privs and a
#      seccomp filter, reaching the control socket bound into its namespace (a user of the group reaches
#      it directly too: vpnpolicyd runs as the system user vpnpolicy, its runtime directory is not
#      private); without ReadGroup= it serves
#      vpnpolicy_up 0 and the journal says why; stopping the control socket stops it too; the textfile
#      service writes a 0644 file into a directory another user owns (CAP_DAC_OVERRIDE), and with the agent
#      stopped a file that says vpnpolicy_up 0, counted as success; the timer runs it.
# Skipped (part 2) when systemd-nspawn is missing or the container cannot boot here.

SELF=$(readlink -f "$0")

inside() {
        set -uo pipefail
        exec >/out/results 2>&1
        echo "BOOTED: $(systemctl --version | head -n1)"
        ok() { echo "PASS: $1"; }
        no() { echo "FAIL: $1${2:+ ($2)}"; }
        chk() { local n=$1; shift; if "$@" >/dev/null 2>&1; then ok "$n"; else no "$n" "$*"; fi; }
        # waitfor SECONDS CMD...: until CMD succeeds, at most SECONDS (however long each try takes)
        waitfor() {
                local end=$((SECONDS + $1))
                while ((SECONDS < end)); do "${@:2}" >/dev/null 2>&1 && return 0; sleep 0.1; done
                return 1
        }
        conf=/etc/vpnpolicy/vpnpolicy.conf
        write_conf() { # [READGROUP]
                printf '[Table]\nName=vpn\nId=200\nPriority=32765\n[Pool]\nPrefix=10.10.10.0/24\n[Gateway]\nIPv4=192.168.1.1\nDevice=veth0\n' >"$conf"
                [[ -z ${1:-} ]] || printf '[Control]\nReadGroup=%s\n' "$1" >>"$conf"
        }
        scrape() { curl -s --max-time 2 -o /tmp/scrape.txt -w '%{http_code}' http://127.0.0.1:9767/metrics; }
        up_is() { [[ $(scrape) == 200 ]] && grep -qx "vpnpolicy_up $1" /tmp/scrape.txt; }
        prom=/var/lib/prometheus/node-exporter/vpnpolicy.prom

        ip link add veth0 type veth peer name veth1
        ip addr add 192.168.1.100/24 dev veth0
        ip link set veth0 up
        ip link set veth1 up
        chk "systemd-sysusers creates the group and the user from the shipped file" systemd-sysusers /opt/vpt/bin/sysusers-vpnpolicy.conf
        gid=$(getent group vpnpolicy | cut -d: -f3)
        echo "INFO: group vpnpolicy is gid ${gid:-none}"
        write_conf vpnpolicy
        chk "vpnpolicyd.socket starts" systemctl start vpnpolicyd.socket
        chk "vpnpolicyd starts" systemctl start vpnpolicyd.service
        chk "a user of the group reaches the control socket itself (vpnpolicyd's runtime directory is not private)" \
                systemd-run --wait --pipe -q -p DynamicUser=yes -p SupplementaryGroups=vpnpolicy /opt/vpt/ctl/vpnpolicyctl metrics
        chk "vpnpolicyd-metrics.socket starts" systemctl start vpnpolicyd-metrics.socket
        chk "the service waits for the first connection" test "$(systemctl is-active vpnpolicyd-metrics.service)" != active
        chk "the first scrape starts the service and gets vpnpolicy_up 1" waitfor 5 up_is 1
        chk "the body has the agent's objects" grep -q '^vpnpolicy_objects_present{policy="vpn",role="source-rule",family="ipv4"} 1$' /tmp/scrape.txt
        pid=$(systemctl show -p MainPID --value vpnpolicyd-metrics.service)
        st=/proc/$pid/status
        echo "INFO: $(grep -E '^(Uid|Groups|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' "$st" | tr -s '\t\n' '  ')"
        uid=$(sed -nE 's/^Uid:\s+([0-9]+).*/\1/p' "$st")
        chk "runs as a transient user of the DynamicUser= range (uid $uid)" test "${uid:-0}" -ge 61184 -a "${uid:-0}" -le 65519
        chk "in the group vpnpolicy ($gid)" grep -qE "^Groups:.*\\b$gid\\b" "$st"
        chk "no capability at all (CapEff)" grep -qE '^CapEff:\s+0000000000000000$' "$st"
        chk "no capability at all (CapBnd)" grep -qE '^CapBnd:\s+0000000000000000$' "$st"
        chk "no_new_privs" grep -qE '^NoNewPrivs:\s+1$' "$st"
        chk "seccomp filter on" grep -qE '^Seccomp:\s+2$' "$st"
        chk "404 for another path" test "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9767/)" = 404

        write_conf
        systemctl reload vpnpolicyd.service
        sleep 1
        chk "without ReadGroup=: vpnpolicy_up 0" waitfor 3 up_is 0
        chk "... and the journal says why" waitfor 3 sh -c 'journalctl -q -u vpnpolicyd-metrics.service | grep -q "refused GetMetrics"'
        write_conf vpnpolicy
        systemctl reload vpnpolicyd.service
        chk "ReadGroup= back: vpnpolicy_up 1" waitfor 3 up_is 1

        mkdir -p /var/lib/prometheus/node-exporter
        chown 65534:65534 /var/lib/prometheus/node-exporter
        chmod 0755 /var/lib/prometheus/node-exporter
        chk "the textfile service runs" systemctl start vpnpolicy-metrics-textfile.service
        chk "... and writes vpnpolicy.prom with vpnpolicy_up 1" grep -qx 'vpnpolicy_up 1' "$prom"
        chk "... mode 0644" test "$(stat -c %a "$prom")" = 644
        chk "... no temporary left" test "$(ls -A /var/lib/prometheus/node-exporter)" = vpnpolicy.prom
        m0=$(stat -c %Y.%N "$prom" 2>/dev/null || stat -c %Y "$prom")
        rm -f "$prom"
        chk "the timer starts" systemctl start vpnpolicy-metrics-textfile.timer
        chk "... and runs the service (the file is back)" waitfor 5 test -s "$prom"
        systemctl stop vpnpolicy-metrics-textfile.timer

        systemctl stop vpnpolicyd.service vpnpolicyd.socket
        chk "agent stopped: the textfile service still succeeds (exit 4 counted as success)" \
                systemctl start vpnpolicy-metrics-textfile.service
        chk "... and the file says vpnpolicy_up 0" grep -qx 'vpnpolicy_up 0' "$prom"
        chk "the control socket stopped: the endpoint's service stops with it (PartOf=)" \
                waitfor 5 sh -c 'test "$(systemctl is-active vpnpolicyd-metrics.service)" != active'
        chk "a scrape then starts both sockets again, and the agent: vpnpolicy_up 1" waitfor 10 up_is 1
        journalctl -q -u vpnpolicyd-metrics.service -u vpnpolicy-metrics-textfile.service --no-pager >/out/journal.txt 2>&1
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

UNITS=$SOURCE_ROOT/units
METRICSD=${METRICSD:-$BUILD/agent/ctl/vpnpolicy-metricsd}
command -v systemd-analyze >/dev/null || skip_test "systemd-analyze is missing"

info "static: systemd-analyze $(systemctl --version | head -n1)"
for u in vpnpolicyd-metrics.service vpnpolicy-metrics-textfile.service; do
        sec=$(systemd-analyze security --offline=yes --no-pager "$UNITS/$u" 2>&1) || true
        score=$(sed -n "s/.*Overall exposure level for ${u//./\\.}: \\([0-9.]*\\).*/\\1/p" <<<"$sec")
        info "figure: $u exposure-level $score"
        check "$u: exposure level at most 1.5 (got '${score:-none}')" \
                awk -v s="$score" 'BEGIN { exit !(s != "" && s + 0 <= 1.5) }'
done
mkdir -p "$T/units" "$T/man/man5" "$T/man/man8"
ln -s "$SOURCE_ROOT"/docs/*.8 "$T/man/man8/"
ln -s "$SOURCE_ROOT"/docs/*.5 "$T/man/man5/"
for u in vpnpolicyd-metrics.socket vpnpolicyd-metrics.service vpnpolicy-metrics-textfile.service \
        vpnpolicy-metrics-textfile.timer vpnpolicyd.socket vpnpolicyd.service; do
        sed -e "s|/usr/libexec/vpnpolicy/vpnpolicy-metricsd|$METRICSD|g" -e "s|/usr/sbin/vpnpolicyctl|$VPNPOLICYCTL|g" \
                -e "s|/usr/sbin/vpnpolicyd|$VPNPOLICYD|g" "$UNITS/$u" >"$T/units/$u"
done
rc=0
out=$(cd "$T/units" && MANPATH=$T/man systemd-analyze verify vpnpolicyd-metrics.socket vpnpolicyd-metrics.service \
        vpnpolicy-metrics-textfile.service vpnpolicy-metrics-textfile.timer 2>&1) || rc=$?
[[ -z $out ]] || sed 's/^/#   /' <<<"$out"
assert_eq "systemd-analyze verify: exit 0 and silent" "0|" "$rc|$out"
check "the socket listens on 127.0.0.1:9767 by default" grep -qx 'ListenStream=127.0.0.1:9767' "$UNITS/vpnpolicyd-metrics.socket"
check "the source unit names /usr/libexec/vpnpolicy/vpnpolicy-metricsd" \
        grep -qx 'ExecStart=/usr/libexec/vpnpolicy/vpnpolicy-metricsd --runtime-dir /run/vpnpolicy-metrics' \
        "$UNITS/vpnpolicyd-metrics.service"

# ---------------------------------------------------------------------------------------------------------
command -v systemd-nspawn >/dev/null || { info "systemd-nspawn is missing: the real-systemd part is skipped"; finish; }
[[ -x /lib/systemd/systemd || -x /usr/lib/systemd/systemd ]] || { info "no systemd to boot"; finish; }
command -v curl >/dev/null || skip_test "curl is missing (tests/run.sh installs it)"

agent=$(dirname "$VPNPOLICYD")
ctl=$(dirname "$VPNPOLICYCTL")
mkdir -p "$T/sys/multi-user.target.wants" "$T/out" "$T/iproute2/rt_tables.d" "$T/iproute2/rt_protos.d" "$T/vpnpolicy" "$T/bin"
printf '#\n# reserved values\n#\n255\tlocal\n254\tmain\n253\tdefault\n0\tunspec\n' >"$T/iproute2/rt_tables"
cp "$SOURCE_ROOT/units/sysusers-vpnpolicy.conf" "$METRICSD" "$T/bin/"
chmod -R go+rX "$T"
for u in vpnpolicyd.service vpnpolicyd.socket vpnpolicyd-metrics.socket vpnpolicyd-metrics.service \
        vpnpolicy-metrics-textfile.service vpnpolicy-metrics-textfile.timer; do
        sed -e 's|/usr/libexec/vpnpolicy/vpnpolicy-metricsd|/opt/vpt/bin/vpnpolicy-metricsd|g' \
                -e 's|/usr/sbin/vpnpolicyctl|/opt/vpt/ctl/vpnpolicyctl|g' -e 's|/usr/sbin/vpnpolicyd|/opt/vpt/agent/vpnpolicyd|g' \
                "$UNITS/$u" >"$T/sys/$u"
done
# A sanitizer build: LeakSanitizer needs ptrace, which SystemCallFilter= denies.
for u in vpnpolicyd vpnpolicyd-metrics vpnpolicy-metrics-textfile; do
        mkdir -p "$T/sys/$u.service.d"
        printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' >"$T/sys/$u.service.d/asan.conf"
done
ln -s /dev/null "$T/sys/systemd-firstboot.service"
cat >"$T/sys/vpt-check.service" <<EOF
[Unit]
Description=vpnpolicy metrics unit checks
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
for d in /run/systemd/nspawn /run/systemd/nspawn/propagate /run/systemd/nspawn-root; do  # undone LIFO
        [[ -e $d ]] || defer rmdir --ignore-fail-on-non-empty "$d"
done
[[ -e /run/systemd ]] || defer rmdir --ignore-fail-on-non-empty /run/systemd
info "booting this OS in systemd-nspawn (volatile root, private network)"
rc=0
timeout --kill-after=10 180 systemd-nspawn -q --register=no --keep-unit -D / --volatile=yes --private-network \
        --bind-ro="$T/sys:/etc/systemd/system" --bind="$T/out:/out" --bind="$T/iproute2:/etc/iproute2" \
        --bind="$T/vpnpolicy:/etc/vpnpolicy" --bind-ro="$agent:/opt/vpt/agent" --bind-ro="$ctl:/opt/vpt/ctl" \
        --bind-ro="$T/bin:/opt/vpt/bin" --bind-ro="$SELF:/opt/vpt/test.sh" \
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
        echo "--- journal of the metrics units in the container ---"
        tail -n 60 "$T/out/journal.txt" 2>/dev/null | sed 's/^/  | /' || true
        grep -vE '^(PASS|FAIL|INFO|BOOTED|DONE)' "$T/out/results" | tail -n 30 | sed 's/^/  | /' || true
fi
finish
