#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Status and doctor warn when the leak guard's drops are rising. A client on a pool address (a veth stands
# in for the tunnel: the leak guard looks only at the output device) sends through the server; a foreign
# route in table vpn sends that traffic out by eth0, which is neither the gateway's device nor a tunnel, so
# the leak guard drops it. Before the leak nothing warns; after it, status --json says rising, the text
# status says RISING and doctor has a leak-guard finding.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

seed003_uplink NS GW
ns_new CL
veth_add "$NS" vc0 "$CL" eth0
ip -n "$NS" addr add 10.10.10.1/24 dev vc0
ip -n "$CL" addr add 10.10.10.2/24 dev eth0
ip -n "$CL" route add default via 10.10.10.1
veth_add "$NS" eth0 "$GW" eth2
ip -n "$NS" addr add 192.0.2.100/24 dev eth0
ip -n "$GW" addr add 192.0.2.1/24 dev eth2
seed003_config "$T/vpnpolicy.conf" '[Gateway]' 'Device=eth1' '[Firewall]' 'LeakGuard=yes'
agent_start "$NS" "$T/vpnpolicy.conf"

fw() { ctl "$NS" status --json | jq -c '.firewall'; }
# doctor exits 3 when it has warnings: judge its JSON, not its exit status.
doctor_json() { ctl "$NS" doctor --config "$T/vpnpolicy.conf" --json || true; }
doctor_has_leak() { doctor_json | jq -e '[.findings[] | select(.check == "leak-guard")] | length > 0' >/dev/null; }

ns_exec "$CL" ping -c 2 -i 0.2 -W 1 198.51.100.1 >/dev/null 2>&1 || true      # via the gateway: no leak
check "before: leak guard present, nothing dropped" jq -e '.present and .leak_guard_drops.packets == 0' <(fw)
check "before: not rising" jq -e '.leak_guard_rising == false' <(fw)
check "before: doctor answers with JSON" jq -e '.findings | type == "array"' <(doctor_json)
check_fail "before: doctor has no leak-guard finding" doctor_has_leak

ip -n "$NS" route add 203.0.113.0/24 via 192.0.2.1 dev eth0 table 200 proto static
ns_exec "$CL" ping -c 3 -i 0.2 -W 1 203.0.113.1 >/dev/null 2>&1 || true
check "after: the leak guard dropped the pool traffic" jq -e '.leak_guard_drops.packets >= 3' <(fw)
check "after: status --json says rising" jq -e '.leak_guard_rising == true and .leak_guard_last_rise_usec > 0' <(fw)
check "after: the text status says RISING" grep -q 'RISING' <(ctl "$NS" status || true)
check "after: doctor warns about the leak guard" doctor_has_leak
check "after: doctor's fix names explain" grep -q 'vpnpolicyctl explain' \
        <(doctor_json | jq -r '.findings[] | select(.check == "leak-guard") | .fix[]')
finish
