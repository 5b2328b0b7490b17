#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `vpnpolicyctl status --json` against docs/status-schema.json (issue "vpnpolicyctl"), with python3's
# jsonschema (Draft 2020-12): healthy (exit 0), with a registered tunnel, degraded (a [Gateway] Device=
# that does not exist: exit 3, health "degraded", the default routes blocked), with two probed gateways
# (policies[] with health per family), and with both of them silent (degraded: no gateway carries IPv4).
# Every key of the reply must be described in the schema (so the document keeps up with api.c), and
# the validator must reject a broken reply. With the agent down, status exits 4 and prints no JSON.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

SCHEMA=$SOURCE_ROOT/docs/status-schema.json
python3 -c 'import jsonschema' 2>/dev/null || skip_test "python3-jsonschema is missing (tests/run.sh installs it)"

# validate NAME FILE: valid against the schema, and no key the schema does not describe
validate() {
        check "$1" python3 - "$SCHEMA" "$2" <<'EOF'
import json, sys
import jsonschema

schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
cls = jsonschema.Draft202012Validator
cls.check_schema(schema)
errors = sorted(cls(schema).iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
for e in errors:
    print("invalid at /%s: %s" % ("/".join(map(str, e.absolute_path)), e.message))

def resolve(s, node):
    while "$ref" in s or "oneOf" in s:
        if "$ref" in s:
            s = schema["$defs"][s["$ref"].split("/")[-1]]
            continue
        want = "object" if isinstance(node, dict) else "array" if isinstance(node, list) else None
        s = next((a for a in s["oneOf"] if resolve(a, node).get("type") == want), {})
    return s

undocumented = set()

def walk(node, s, path):
    s = resolve(s, node)
    if isinstance(node, dict):
        props = s.get("properties", {})
        for k, v in node.items():
            if k in props:
                walk(v, props[k], path + "/" + k)
            else:
                undocumented.add(path + "/" + k)
    elif isinstance(node, list) and "items" in s:
        for v in node:
            walk(v, s["items"], path + "/*")

walk(doc, schema, "")
for u in sorted(undocumented):
    print("not in the schema:", u)
sys.exit(1 if errors or undocumented else 0)
EOF
}

seed003_uplink --no-forwarding NS GW
seed003_tun "$NS"

conf=$T/vpnpolicy.conf
# write_conf [LINE...]: the seed 003 configuration with Forwarding=enable (and LINEs) into $conf
write_conf() { seed003_config "$conf" '[Kernel]' 'Forwarding=enable' "$@"; }
status() {
        SRC=0
        ctl "$NS" status --json >"$T/$1.json" 2>"$T/$1.err" || SRC=$?
}

# ---- healthy, with a registered tunnel
write_conf
agent_start "$NS" "$conf"
ip netns exec "$NS" env -i "VPNPOLICY_RUNTIME_DIR=$T/run-$NS" dev=tun0 ifconfig_local=10.10.10.1 \
        ifconfig_netmask=255.255.255.0 config=/etc/openvpn/server/server.conf daemon_pid=$$ script_type=up \
        "$VPNPOLICYCTL" openvpn-hook tun0 1500 1500 10.10.10.1 255.255.255.0 init
status healthy
assert_eq "healthy: exit 0" 0 "$SRC"
assert_eq "healthy: health" healthy "$(jq -r .health "$T/healthy.json")"
check "healthy: registered device" jq -e '.devices[0].registered and .devices[0].config != null' "$T/healthy.json"
validate "healthy: valid" "$T/healthy.json"

# the validator does reject what is wrong
jq 'del(.health)' "$T/healthy.json" >"$T/broken1.json"
jq '.objects[0].present = "yes"' "$T/healthy.json" >"$T/broken2.json"
jq '.surprise = 1' "$T/healthy.json" >"$T/broken3.json"
check_fail "broken: missing key rejected" python3 -c 'import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])), cls=jsonschema.Draft202012Validator)' "$SCHEMA" "$T/broken1.json"
check_fail "broken: wrong type rejected" python3 -c 'import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])), cls=jsonschema.Draft202012Validator)' "$SCHEMA" "$T/broken2.json"
out=$( (validate "probe" "$T/broken3.json") )
check "broken: an undocumented key is caught" grep -q 'not in the schema: /surprise' <<<"$out"

# ---- degraded: the gateway's device does not exist
agent_stop
ip -n "$NS" route flush table 200
write_conf '[Gateway]' 'Device=eth9'
agent_start "$NS" "$conf"
status degraded
assert_eq "degraded: exit 3" 3 "$SRC"
assert_eq "degraded: health" degraded "$(jq -r .health "$T/degraded.json")"
check "degraded: a blocked default route" \
        jq -e 'any(.objects[]; .role == "default-route" and .present == false and .blocked != null)' "$T/degraded.json"
validate "degraded: valid" "$T/degraded.json"

# ---- two gateways with probes: policies[], health per family; then both silent: degraded
agent_stop
ip -n "$NS" route flush table 200
ns_new GW2
veth_add "$NS" eth2 "$GW2" eth0
ip -n "$NS" addr add 192.168.2.100/24 dev eth2
ip -n "$GW2" addr add 192.168.2.1/24 dev eth0
ip -n "$GW" addr add 198.51.100.1/32 dev lo            # a probe target "behind" the first gateway
write_conf '[Gateway]' 'ProbeIntervalSec=200ms' 'ProbeTimeoutSec=200ms' 'ProbeTarget=198.51.100.1' \
        '[Gateway]' 'Name=second' 'IPv4=192.168.2.1' 'Device=eth2' 'Priority=200' 'ProbeIntervalSec=200ms' \
        'ProbeTimeoutSec=200ms'
agent_start "$NS" "$conf"
both_up() { ctl "$NS" status --json | jq -e '[.policies[0].gateways[].health.ipv4.state] == ["up", "up"]'; }
check "two gateways: both up" wait_until 3000 both_up
status probed
assert_eq "two gateways: exit 0" 0 "$SRC"
check "two gateways: the first is active for IPv4, the second has no IPv6" jq -e \
        '.policies[0].active.ipv4 == "gateway" and .policies[0].gateways[1].health.ipv6 == null
         and .policies[0].gateways[0].health.ipv4.active and (.policies[0].gateways[1].health.ipv4.active | not)' \
        "$T/probed.json"
check "two gateways: RTT, probes and the probe table are reported" jq -e \
        '.policies[0].gateways[0] | .health.ipv4.rtt_usec.last != null and .health.ipv4.probes.sent > 0
         and .probe.table != null and .probe.mark != null and .health.ipv4.gateway_answers == true' "$T/probed.json"
validate "two gateways: valid" "$T/probed.json"
# Both stop answering: no gateway carries IPv4, fail-closed holds, and status says so.
for g in "$GW" "$GW2"; do
        ns_exec "$g" nft -f - <<'NFT'
table inet deaf {
        chain deaf { type filter hook input priority 0; policy accept; icmp type echo-request drop; }
}
NFT
done
check "both silent: no active IPv4 gateway" wait_until 3000 eval \
        '[[ $(ctl "$NS" status --json | jq -r ".policies[0].active.ipv4") == null ]]'
status silent
assert_eq "both silent: exit 3" 3 "$SRC"
assert_eq "both silent: degraded" degraded "$(jq -r .health "$T/silent.json")"
check "both silent: both down, with reasons" jq -e \
        '[.policies[0].gateways[].health.ipv4 | .state == "down" and (.reason | length > 0)] == [true, true]' \
        "$T/silent.json"
validate "both silent: valid" "$T/silent.json"

# ---- agent down
agent_stop
status down
assert_eq "agent down: exit 4" 4 "$SRC"
assert_eq "agent down: nothing on stdout" "" "$(cat "$T/down.json")"
check "agent down: says why" grep -q '^Cannot reach vpnpolicyd at ' "$T/down.err"

finish
