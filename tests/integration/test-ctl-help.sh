#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The CLI's usage contract: every verb answers --help with its usage (exit 0); usage errors exit 2 with a
# line saying what was wrong, not a help dump; an unreachable agent is exit 4.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"

verbs=$("$VPNPOLICYCTL" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF > 1 { print $1 }')
check "the help lists the verbs" test -n "$verbs"
for v in $verbs; do
        out=$("$VPNPOLICYCTL" "$v" --help) && rc=0 || rc=$?
        check "$v --help exits 0" test "$rc" = 0
        check "$v --help prints its usage" grep -q "^Usage: vpnpolicyctl .*$v" <<<"$out"
done
usage_error() {
        local rc=0 out
        out=$("$VPNPOLICYCTL" --runtime-dir "$T/none" "$@" 2>&1) || rc=$?
        [[ $rc == 2 && $(wc -l <<<"$out") -le 2 ]]
}
check "no command: exit 2, one line" usage_error
check "unknown command: exit 2" usage_error frobnicate
check "status with a bad argument: exit 2" usage_error status --bogus
check "reload with an argument: exit 2" usage_error reload now
check "wait-ready with a bad --timeout: exit 2" usage_error wait-ready --timeout 0
check "unknown global option: exit 2" usage_error --bogus status
rc=0
"$VPNPOLICYCTL" --runtime-dir "$T/none" status >/dev/null 2>&1 || rc=$?
check "status without an agent: exit 4" test "$rc" = 4
check "--version names the version" grep -q '^vpnpolicyctl [0-9]' <("$VPNPOLICYCTL" --version)
finish
