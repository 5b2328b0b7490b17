#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Access to the control socket. The runtime directory is reachable for everybody (0755) and the socket
# is connectable, so the agent itself decides by the peer's credentials (SO_PEERCRED): an unprivileged
# user (nobody, 65534) gets "not permitted" (exit 1) for status and reload. With [Control] ReadGroup= set
# to its group (reloaded at run time), status works for a member (its primary gid, or its account's
# groups), not for others, and reload stays root-only. Taking ReadGroup= away again revokes the access.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

command -v setpriv >/dev/null || skip_test "setpriv (util-linux) is missing"
getent passwd 65534 >/dev/null || skip_test "no user 65534"
grp=$(getent group 65534 | cut -d: -f1) || skip_test "no group 65534"
[[ -n $grp ]] || skip_test "no group 65534"
other_gid=47113         # a group nobody is in (need not exist)
stranger=47114          # a uid with no account
! getent passwd "$stranger" >/dev/null || skip_test "uid $stranger exists here"

seed003_uplink NS GW
conf=$T/vpnpolicy.conf
write_conf() { # [READGROUP]
        printf '[Pool]\nPrefix=10.10.10.0/24\n[Gateway]\nIPv4=192.168.1.1\n' >"$conf"
        [[ -z ${1:-} ]] || printf '[Control]\nReadGroup=%s\n' "$1" >>"$conf"
}
write_conf

run=$T/run-$NS
mkdir -p "$run"
chmod 0755 "$run"
agent_start "$NS" "$conf"
sock=$run/io.vpnpolicy

# as USER: ctl as an unprivileged user in the namespace. as_user UID GID GROUPS ARGS...
as_user() {
        local uid=$1 gid=$2 groups=$3
        shift 3
        local g=(--clear-groups)
        [[ $groups == - ]] || g=(--groups "$groups")
        ip netns exec "$NS" setpriv --reuid="$uid" --regid="$gid" "${g[@]}" \
                "$VPNPOLICYCTL" --runtime-dir "$run" "$@"
}
nobody() { as_user 65534 65534 - "$@"; }
# outcome CMD...: "EXIT|first line of stderr+stdout"
outcome() {
        local rc=0 out
        out=$("$@" 2>&1) || rc=$?
        echo "$rc|$(head -n1 <<<"$out")"
}

check "runtime dir is 0755" test "$(stat -c %a "$run")" = 755
check "the control socket exists" test -S "$sock"
mode=$(stat -c %a "$sock")
info "control socket mode $mode, owner $(stat -c %U:%G "$sock")"
check "the control socket is connectable by others (o+w; access is decided by the agent)" \
        test $((8#$mode & 8#002)) -ne 0
check "root: status works" ctl "$NS" status
check "nobody can reach the ctl binary and the runtime dir" \
        ip netns exec "$NS" setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$VPNPOLICYCTL" -a -x "$run"

# ---------------------------------------------------------------------------------------------------------
info "no ReadGroup: nobody is refused"
o=$(outcome nobody status)
info "nobody status: $o"
check "nobody: status exit 1" test "${o%%|*}" = 1
check "nobody: status says 'not permitted'" grep -qi 'not permitted' <<<"$o"
o=$(outcome nobody status --json)
check "nobody: status --json exit 1 too" test "${o%%|*}" = 1
o=$(outcome nobody reload)
info "nobody reload: $o"
check "nobody: reload exit 1, not permitted" eval '[[ ${o%%|*} == 1 && ${o,,} == *"not permitted"* ]]'
assert_eq "nobody's reload did not happen" 0 "$(ctl "$NS" status --json | jq .counters.reloads)"
check "agent alive" _vpt_alive "$AGENT_PID"

# ---------------------------------------------------------------------------------------------------------
info "ReadGroup=$grp (reloaded)"
write_conf "$grp"
check "root: reload with ReadGroup=$grp" ctl "$NS" reload
assert_eq "status shows 1 reload" 1 "$(ctl "$NS" status --json | jq .counters.reloads)"
o=$(outcome nobody status)
info "nobody status: $o"
check "nobody (primary group $grp): status exit 0" test "${o%%|*}" = 0
rc=0
nobody status --json >"$T/st.json" 2>"$T/st.err" || rc=$?
assert_eq "nobody: status --json exit 0" 0 "$rc"
check "nobody: status --json is the full status" \
        jq -e '.schema == 1 and .health == "healthy" and (.objects | length) == 3' "$T/st.json"
# Membership is what the peer process holds when it connects: its primary gid (SO_PEERCRED) or one of its
# supplementary groups (SO_PEERGROUPS); the groups its account would have are not looked at.
o=$(outcome as_user "$stranger" 65534 - status)
check "uid $stranger (no account), primary gid 65534: status exit 0" test "${o%%|*}" = 0
o=$(outcome as_user "$stranger" "$other_gid" - status)
info "uid $stranger, gid $other_gid, no groups: $o"
check "uid $stranger, gid $other_gid, no groups: refused (exit 1, not permitted)" \
        eval '[[ ${o%%|*} == 1 && ${o,,} == *"not permitted"* ]]'
o=$(outcome as_user "$stranger" "$other_gid" 65534 status)
check "uid $stranger, gid $other_gid, supplementary group 65534: status exit 0" test "${o%%|*}" = 0
o=$(outcome as_user 65534 "$other_gid" - status)
info "uid 65534 (account in $grp), gid $other_gid, no groups: $o"
check "uid 65534 whose process dropped $grp: refused (the account's groups do not count)" \
        eval '[[ ${o%%|*} == 1 && ${o,,} == *"not permitted"* ]]'
o=$(outcome as_user "$stranger" "$other_gid" 65534 status)
info "uid $stranger, gid $other_gid, supplementary 65534 (not seen by SO_PEERCRED): $o"
o=$(outcome nobody reload)
info "nobody reload: $o"
check "nobody: reload still refused (exit 1, not permitted)" \
        eval '[[ ${o%%|*} == 1 && ${o,,} == *"not permitted"* ]]'
o=$(outcome as_user 0 65534 - reload)
check "root with another primary group: reload works" test "${o%%|*}" = 0
assert_eq "only root's reloads happened (2)" 2 "$(ctl "$NS" status --json | jq .counters.reloads)"

# ---------------------------------------------------------------------------------------------------------
info "ReadGroup=65534 (a number) and then none again"
write_conf 65534
check "root: reload with ReadGroup=65534" ctl "$NS" reload
o=$(outcome nobody status)
check "nobody: status exit 0 with a numeric ReadGroup" test "${o%%|*}" = 0
write_conf
check "root: reload without ReadGroup" ctl "$NS" reload
o=$(outcome nobody status)
check "nobody: refused again after ReadGroup= is gone (exit 1)" test "${o%%|*}" = 1
check "agent alive and healthy" ctl "$NS" status

finish
