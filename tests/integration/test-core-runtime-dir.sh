#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # functions run indirectly, by check
# The runtime directory (issue 11, section 6): the agent keeps its control socket and registrations.json
# there, so it must be ours. An existing directory owned by another user, one that group or others may
# write (0777, 1777, 0775), a symlink another user made (to a good directory), or a file in its place:
# the agent refuses to start (exit 1), saying which rule was broken, and leaves no rule, route or
# nftables table behind. A symlink root made to a good directory is followed: systemd makes
# /run/vpnpolicy one (to /run/private/vpnpolicy) for DynamicUser= with RuntimeDirectoryPreserve=.
# In a good directory, a symlink planted at registrations.json.tmp (and one at registrations.json) that
# points at a file outside is not followed when the hook registers a tunnel: the target is unchanged,
# registrations.json is a regular file of the agent's. The control socket is mode 0666 (everyone may
# connect, each method checks the caller) also when the agent runs under UMask=0077, as the shipped unit
# does, and no stale registrations.json.tmp is left.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

seed003_uplink NS GW
seed003_tun "$NS"
conf=$T/vpnpolicy.conf
seed003_config "$conf" '[Kernel]' 'Forwarding=enable'

# nothing_made: no rule or route of protocol 211, no nftables table of ours
nothing_made() {
        local n
        n=$({
                ip -n "$NS" -j -4 rule show; ip -n "$NS" -j -6 rule show
                ip -n "$NS" -j -4 route show table all; ip -n "$NS" -j -6 route show table all
        } | jq -s '[.[][] | select(.protocol == "vpnpolicy" or .protocol == "211")] | length')
        [[ $n == 0 ]] && ! ip netns exec "$NS" nft list table inet vpnpolicy >/dev/null 2>&1
}

# refused WHAT DIR REASON: the agent with --runtime-dir DIR exits 1 at once, saying REASON about DIR
refused() {
        local what=$1 dir=$2 reason=$3 rc=0
        timeout 5 ip netns exec "$NS" "$VPNPOLICYD" --config "$conf" --runtime-dir "$dir" >/dev/null 2>"$T/err" ||
                rc=$?
        assert_eq "$what: the agent refuses to start (exit 1)" 1 "$rc"
        check "$what: it says why" grep -qF "Refusing the runtime directory $dir: $reason." "$T/err"
        check "$what: ... and what a runtime directory must be" \
                grep -qF "It must be a directory owned by us (uid 0) or root, writable by its owner only (a symlink to it: made by us or root)." "$T/err"
        check "$what: nothing made in the kernel" nothing_made
        check "$what: no control socket" test ! -e "$dir/io.vpnpolicy"
}

info "runtime directories the agent must not use"
mkdir -m 0755 "$T/other-user"
chown 65534:65534 "$T/other-user"
refused "owned by uid 65534" "$T/other-user" "owned by another user"
mkdir -m 0777 "$T/world-writable"
chmod 0777 "$T/world-writable"
refused "mode 0777" "$T/world-writable" "writable by group or others"
mkdir "$T/sticky"
chmod 1777 "$T/sticky"
refused "mode 1777 (like /tmp)" "$T/sticky" "writable by group or others"
mkdir "$T/group-writable"
chmod 0775 "$T/group-writable"
refused "mode 0775" "$T/group-writable" "writable by group or others"
mkdir -m 0755 "$T/good"
ln -s "$T/good" "$T/link"
chown -h 65534:65534 "$T/link"
refused "a symlink another user made, to a good directory" "$T/link" "a symbolic link that another user owns"
ln -s "$T/world-writable" "$T/root-link"
refused "root's symlink to a directory others may write" "$T/root-link" "writable by group or others"
: >"$T/file"
refused "a file" "$T/file" "not a directory"
check "the refused directories hold nothing of the agent's" \
        test -z "$(find "$T/other-user" "$T/world-writable" "$T/sticky" "$T/group-writable" "$T/good" -mindepth 1)"

info "root's symlink to a good directory (what systemd makes for DynamicUser=) is followed"
mkdir -m 0755 "$T/private"
ln -s "$T/private" "$T/run-link"
ip netns exec "$NS" "$VPNPOLICYD" --config "$conf" --runtime-dir "$T/run-link" </dev/null >/dev/null 2>"$T/err" &
pid=$!
register_pid "$pid"
check "root's symlink: the agent listens in the directory the symlink names" \
        wait_until 10000 test -S "$T/private/io.vpnpolicy"
check "root's symlink: and answers there" ip netns exec "$NS" "$VPNPOLICYCTL" --runtime-dir "$T/run-link" status
kill "$pid"
rc=0
wait "$pid" || rc=$?
assert_eq "root's symlink: the agent ran until SIGTERM (exit 0)" 0 "$rc"
check_fail "root's symlink: no refusal" grep -q Refusing "$T/err"

info "symlinks planted in a good runtime directory"
run=$T/run-$NS
mkdir -m 0755 "$run"
printf 'precious\n' >"$T/victim"
printf 'precious too\n' >"$T/victim2"
ln -s "$T/victim" "$run/registrations.json.tmp"
# As the shipped unit runs it (UMask=0077): the socket's mode must not come from the umask.
umask 077
agent_start "$NS" "$conf"
umask 022
check "control socket: a socket" test -S "$run/io.vpnpolicy"
assert_eq "control socket: mode 0666 under UMask=0077" 666 "$(stat -c %a "$run/io.vpnpolicy")"
assert_eq "control socket: owned by the agent's uid" 0 "$(stat -c %u "$run/io.vpnpolicy")"
ln -s "$T/victim2" "$run/registrations.json"

ip netns exec "$NS" env -i "VPNPOLICY_RUNTIME_DIR=$run" dev=tun0 ifconfig_local=10.10.10.1 \
        ifconfig_netmask=255.255.255.0 config=/etc/openvpn/server/vpn.conf daemon_pid=1 script_type=up \
        "$VPNPOLICYCTL" openvpn-hook --strict tun0 1500 1500 10.10.10.1 255.255.255.0 init
check "the registration is in status" \
        jq -e '.devices[] | select(.name == "tun0" and .registered)' <<<"$(ctl "$NS" status --json)"
assert_eq "the symlink at registrations.json.tmp was not followed: its target unchanged" precious "$(cat "$T/victim")"
assert_eq "the symlink at registrations.json was not followed: its target unchanged" "precious too" \
        "$(cat "$T/victim2")"
check "registrations.json is a regular file now" test -f "$run/registrations.json" -a ! -L "$run/registrations.json"
check "registrations.json holds tun0" jq -e '.[] | select(.name == "tun0")' "$run/registrations.json"
assert_eq "registrations.json: mode 0600 under UMask=0077" 600 "$(stat -c %a "$run/registrations.json")"
check "no registrations.json.tmp left" test ! -e "$run/registrations.json.tmp" -a ! -L "$run/registrations.json.tmp"

info "a stale temp file (a crash between write and rename) is replaced"
agent_stop
printf 'half a write' >"$run/registrations.json.tmp"
agent_start "$NS" "$conf"
ip netns exec "$NS" env -i "VPNPOLICY_RUNTIME_DIR=$run" dev=tun0 ifconfig_local=10.10.10.1 \
        ifconfig_netmask=255.255.255.0 config=/etc/openvpn/server/other.conf script_type=up \
        "$VPNPOLICYCTL" openvpn-hook --strict tun0 1500 1500 10.10.10.1 255.255.255.0 init
check "the new registration is saved" \
        jq -e '.[] | select(.name == "tun0" and .config == "/etc/openvpn/server/other.conf")' "$run/registrations.json"
check "no registrations.json.tmp left" test ! -e "$run/registrations.json.tmp"

finish
