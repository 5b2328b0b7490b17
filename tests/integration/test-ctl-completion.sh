#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Bash completion for vpnpolicyctl (issue "vpnpolicyctl"), with bash-completion's own helpers: the
# commands, the global options, each command's options (wait-ready's --timeout too), devices for explain
# --iif (those of the namespace), files for doctor's and explain's --config, nothing for a command without options.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"

BC=/usr/share/bash-completion/bash_completion
[[ -r $BC ]] || skip_test "bash-completion is not installed (tests/run.sh installs it)"
COMPLETION=$SOURCE_ROOT/completion/vpnpolicyctl.bash

ns_new NS
tun_add "$NS" tunx7

# complete WORDS...: the candidates bash would offer for the command line WORDS (the last is being typed),
# sorted, one line; run in NS so /sys/class/net is the namespace's.
complete_words() {
        ip netns exec "$NS" bash -c '
                source "$1" && source "$2" && shift 2
                COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
                _vpnpolicyctl vpnpolicyctl "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"
                ((${#COMPREPLY[@]} == 0)) || printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' bash "$BC" "$COMPLETION" "$@"
}

assert_eq "commands" "doctor explain metrics openvpn-hook reload status teardown wait-ready " "$(complete_words vpnpolicyctl '')"
assert_eq "commands by prefix" "teardown " "$(complete_words vpnpolicyctl te)"
assert_eq "global options" "--help --json --runtime-dir --version " "$(complete_words vpnpolicyctl --)"
assert_eq "command after --runtime-dir" "doctor " "$(complete_words vpnpolicyctl --runtime-dir /run/x do)"
assert_eq "doctor options" "--assume-dco --config --iproute2-dir --json --openvpn-config --openvpn-dir " "$(complete_words vpnpolicyctl doctor --)"
assert_eq "teardown options" "--iproute2-dir --yes " "$(complete_words vpnpolicyctl teardown --)"
assert_eq "explain options" "--config --iif --json " "$(complete_words vpnpolicyctl explain 10.10.10.2 203.0.113.1 --)"
assert_eq "explain --iif: devices" "tunx7 " "$(complete_words vpnpolicyctl explain 10.10.10.2 203.0.113.1 --iif tu)"
assert_eq "status options" "--json " "$(complete_words vpnpolicyctl status --)"
assert_eq "metrics options" "--output " "$(complete_words vpnpolicyctl metrics --)"
assert_eq "reload: nothing" "" "$(complete_words vpnpolicyctl reload --)"
assert_eq "wait-ready options" "--timeout " "$(complete_words vpnpolicyctl wait-ready --)"
assert_eq "wait-ready --timeout: nothing (seconds)" "" "$(complete_words vpnpolicyctl wait-ready --timeout '')"
mkdir -p "$T/cfg"
touch "$T/cfg/a.conf"
assert_eq "doctor --config: files" "$T/cfg/a.conf " "$(complete_words vpnpolicyctl doctor --config "$T/cfg/")"
assert_eq "explain --config: files" "$T/cfg/a.conf " "$(complete_words vpnpolicyctl explain 10.10.10.2 203.0.113.1 --config "$T/cfg/")"
touch "$T/cfg/vpnpolicy.prom"
assert_eq "metrics --output: .prom files" "$T/cfg/vpnpolicy.prom " "$(complete_words vpnpolicyctl metrics --output "$T/cfg/")"

finish
