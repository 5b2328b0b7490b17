#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # functions run indirectly, by check
# Registrations and the doctor against hostile paths (issue 11, section 6). A registrant allowed by
# [Control] RegisterUser= (here nobody) may only confirm a registration root made for that very device:
# a device root never registered is refused (PermissionDenied, with the reason), and the config and
# daemon_pid it passes are ignored, root's kept. Status says who registered ("registered_by_uid"), and
# registrations.json keeps it across a restart. The doctor reads only regular files, non-blocking, at most
# 1 MiB: root-registered configurations that are a FIFO or /dev/zero, a 2 MiB file, an include that is a
# FIFO and a FIFO in the client-config-dir are reported as skipped, and the doctor neither hangs (20 s
# bound) nor grows (256 MiB address space). Paths of registrations not known to be root's (an older
# agent's file without the uid, or another uid's) are not read at all.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

command -v setpriv >/dev/null || skip_test "setpriv (util-linux) is missing"
command -v prlimit >/dev/null || skip_test "prlimit (util-linux) is missing"

seed003_uplink --no-forwarding NS GW
seed003_tun "$NS"
tun_add "$NS" ovpn9
ip -n "$NS" addr add 10.10.10.129/25 dev ovpn9
mkdir -p "/etc/netns/$NS/systemd"       # the host's systemd files are not this namespace's
conf=$T/vpnpolicy.conf
seed003_config "$conf" '[Kernel]' 'Forwarding=enable' '[Control]' 'RegisterUser=nobody'
run=$T/run-$NS
O=$T/ovpn
mkdir -p "$O/ccd"
chmod 0755 "$O" "$O/ccd"

# register AS DEV [NAME=VALUE...]: the up hook for DEV (10.10.10.1/24) as AS (root or nobody), --strict;
# exit status in HRC, stderr in $T/hook.err
register() {
        local as=$1 dev=$2 prefix=()
        shift 2
        [[ $as == root ]] || prefix=(setpriv --reuid=65534 --regid=65534 --clear-groups)
        HRC=0
        ip netns exec "$NS" "${prefix[@]}" env -i "VPNPOLICY_RUNTIME_DIR=$run" "dev=$dev" ifconfig_local=10.10.10.1 \
                ifconfig_netmask=255.255.255.0 script_type=up "$@" \
                "$VPNPOLICYCTL" openvpn-hook --strict "$dev" 1500 1500 10.10.10.1 255.255.255.0 init \
                </dev/null >/dev/null 2>"$T/hook.err" || HRC=$?
}
# device DEV: DEV's entry in status, or null
device() { ctl "$NS" status --json | jq -c --arg d "$1" '[.devices[] | select(.name == $d)][0]'; }
# doctor: doctor --json, bounded in time (20 s) and address space (256 MiB); DRC, DMS, $T/d.json.
# A sanitizer build reserves terabytes of shadow memory at start, which no address-space limit allows:
# there only the time bound applies (the gcc build checks both).
AS_LIMIT=(prlimit --as=$((256 << 20)))
if grep -q __asan_init "$VPNPOLICYCTL"; then
        AS_LIMIT=()
        info "ASan build: doctor bounded in time only"
fi
doctor() {
        local t0
        t0=$(now_ms)
        DRC=0
        timeout 20 "${AS_LIMIT[@]}" ip netns exec "$NS" "$VPNPOLICYCTL" --runtime-dir "$run" \
                doctor --json --config "$conf" >"$T/d.json" 2>"$T/d.err" || DRC=$?
        DMS=$(($(now_ms) - t0))
}
# doctor_bounded WHAT: doctor finished by itself, in time, with its JSON
doctor_bounded() {
        doctor
        check "$1: doctor ends by itself within 20 s (exit $DRC, $DMS ms)" test "$DRC" != 124 -a "$DRC" -le 3
        check "$1: doctor's output is whole" doctor_output_ok
}
skipped() { jq -e --arg r "$1" 'any(.skipped[]; .check == "openvpn" and (.reason | test($r)))' "$T/d.json" >/dev/null; }

cat >"$O/good.conf" <<EOF
dev tun0
server 10.10.10.0 255.255.255.0
client-config-dir $O/ccd
script-security 2
up $BUILD/hooks/vpnpolicy-openvpn-up
EOF
mkfifo "$O/fifo"
{ for ((i = 0; i < 40000; i++)); do echo "# padding line $i, a comment of about fifty bytes"; done; } >"$O/big.conf"

agent_start "$NS" "$conf"

# ---------------------------------------------------------------------------------------------------------
info "non-root registrants may only confirm root's registration"
register nobody tun0 config=/dev/zero daemon_pid=1
assert_eq "nobody, tun0 not registered by root: refused (exit 1)" 1 "$HRC"
check "... with the reason" grep -q 'PermissionDenied: tun0 was not registered by root' "$T/hook.err"
check "... not registered" jq -e '.registered == false' <<<"$(device tun0)"
register nobody ovpn9 config=/dev/zero
assert_eq "nobody, ovpn9 (outside Match=) not registered by root: refused" 1 "$HRC"
check "... ovpn9 not managed" test "$(device ovpn9)" = null

register root tun0 "config=$O/good.conf" "daemon_pid=$$"
assert_eq "root registers tun0" 0 "$HRC"
check "status: registered by uid 0, with its config" \
        jq -e --arg c "$O/good.conf" '.registered and .registered_by_uid == 0 and .config == $c' <<<"$(device tun0)"
register nobody tun0 config=/dev/zero daemon_pid=1
assert_eq "nobody confirms root's registration of tun0" 0 "$HRC"
check "... root's config and daemon_pid kept, nobody's ignored" \
        jq -e --arg c "$O/good.conf" --argjson p $$ '.registered_by_uid == 0 and .config == $c and .daemon_pid == $p' \
        <<<"$(device tun0)"
check "registrations.json says root registered tun0" \
        jq -e --arg c "$O/good.conf" '.[] | select(.name == "tun0" and .registered_by_uid == 0 and .config == $c)' \
        "$run/registrations.json"
doctor_bounded "good config"
check "good config: read, not skipped" jq -e 'all(.skipped[]; .check != "openvpn")' "$T/d.json"
check "good config: nobody's /dev/zero not looked at" jq -e 'all(.findings[]; (.message | test("/dev/zero")) | not)' "$T/d.json"

agent_stop
agent_start "$NS" "$conf"
check "after a restart: still registered by uid 0" \
        jq -e --arg c "$O/good.conf" '.registered and .registered_by_uid == 0 and .config == $c' <<<"$(device tun0)"

# ---------------------------------------------------------------------------------------------------------
info "root's registrations naming what is no regular file"
register root tun0 "config=$O/fifo"
doctor_bounded "a FIFO"
check "a FIFO: said so" finding warning openvpn "^cannot read the OpenVPN configuration $O/fifo: not a regular file"
register root tun0 config=/dev/zero
doctor_bounded "/dev/zero"
check "/dev/zero: said so" finding warning openvpn '^cannot read the OpenVPN configuration /dev/zero: not a regular file'
register root tun0 "config=$O/big.conf"
doctor_bounded "a 2 MiB file"
check "a 2 MiB file: skipped, and said so" \
        finding warning openvpn "^cannot read the OpenVPN configuration $O/big.conf: larger than 1 MiB, skipped"
printf 'config %s\n' "$O/fifo" >>"$O/good.conf"
mkfifo "$O/ccd/evil"
printf 'iroute 192.168.7.0 255.255.255.0\n' >"$O/ccd/client1"
register root tun0 "config=$O/good.conf"
doctor_bounded "an include and a client file that are FIFOs"
check "an include that is a FIFO: named" \
        finding warning openvpn "^cannot read the OpenVPN configuration $O/fifo: not a regular file"
sed -i '$d' "$O/good.conf"
doctor_bounded "a FIFO in the client-config-dir"
check "a FIFO in the client-config-dir: skipped, and said so" skipped "^client-config-dir file $O/ccd/evil: not a regular file"
check "... the other client file read" finding warning openvpn '^iroute 192.168.7.0 255.255.255.0 .* has no route'

# ---------------------------------------------------------------------------------------------------------
info "registrations not known to be root's: their paths are not read"
agent_stop
t4=$(ip -n "$NS" -j link show tun0 | jq '.[0].ifindex')
t9=$(ip -n "$NS" -j link show ovpn9 | jq '.[0].ifindex')
# an older agent's file (no registered_by_uid) for tun0, and one that says uid 65534 for ovpn9
printf '[{"name":"tun0","ifindex":%d,"config":"%s","daemon_pid":1,"registered_at":1},
  {"name":"ovpn9","ifindex":%d,"config":"/dev/zero","daemon_pid":1,"registered_by_uid":65534,"registered_at":1}]\n' \
        "$t4" "$O/fifo" "$t9" >"$run/registrations.json"
agent_start "$NS" "$conf"
check "an older agent's registration: registered_by_uid null" \
        jq -e --arg c "$O/fifo" '.registered and .registered_by_uid == null and .config == $c' <<<"$(device tun0)"
# ovpn9 is outside Match=: only root's registration could make it ours, and another uid's does not.
check "another uid's registration does not make ovpn9 ours" test "$(device ovpn9)" = null
doctor_bounded "untrusted registrations"
check "untrusted: tun0's path not read, and said so" \
        skipped "^tun0's configuration $O/fifo: the agent does not say who registered it, not read"
check "untrusted: no finding about either path" \
        jq -e --arg f "$O/fifo" 'all(.findings[]; (.message | (contains($f) or contains("/dev/zero"))) | not)' "$T/d.json"
register nobody tun0 config=/dev/zero
assert_eq "nobody cannot confirm a registration not known to be root's" 1 "$HRC"
register root tun0 "config=$O/good.conf"
check "root registers it again: registered by uid 0" jq -e '.registered_by_uid == 0' <<<"$(device tun0)"

finish
