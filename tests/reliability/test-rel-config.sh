#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317,SC2016 # functions run indirectly, by check and wait_until (eval of '...')
# Reliability 9: configuration reloads.
#  A. Every file of the bad corpus (tests/unit/bad-configs, 100+ files) is put in place of the running
#     agent's configuration and reloaded (vpnpolicyctl reload and SIGHUP, alternately). Each reload is
#     refused with the corpus' expected "FILE:LINE: ...message"; a lossless monitor (relnl) sees no rule
#     or route message at all; the nftables ruleset, the rt_tables.d/rt_protos.d files and the policy
#     stay byte-for-byte as they were; the agent stays healthy with its old configuration;
#     reload_failures counts every one. (The agent runs with a copy of the corpus' iproute2 directory, so
#     the clash cases clash.) Also: a v4-mapped IPv6 gateway, which the kernel refuses as a nexthop, is
#     rejected by --check-config.
#  B. A sequence of good reloads (pools added and removed, gateway changed, priority, table id, fail-closed,
#     mirroring and tun matching switched, a pool moved to a drop-in, no-op edits), with a tun device, its
#     addresses and a client LAN route in place. For each: once converged, the kernel holds exactly what a
#     fresh agent builds from the new configuration, and the monitor shows no deletion of any object that
#     was wanted both before and after the reload (no delete+add, not even briefly). No-op edits cause no
#     message at all.
# (test-core-config.sh checks --check-config on the corpus, one bad SIGHUP and one bad ctl reload, and
# three good reloads.)
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

CORPUS=$SOURCE_ROOT/tests/unit/bad-configs
rel_topology NS GW
ip -n "$GW" addr add 192.168.1.2/24 dev eth0
ip -n "$GW" addr add fd00:1010:1010:1010::2/64 dev eth0 nodad
tun_add "$NS" tun0
ip -n "$NS" addr add 10.10.10.1/24 dev tun0
ip -n "$NS" -6 addr add fd00:4242:4242:4242::1/64 dev tun0 nodad
ip -n "$NS" route add 172.16.1.0/24 via 10.10.10.2 dev tun0 onlink
ip -n "$NS" -6 route add fd00:172:16:1::/64 dev tun0

cp -a "$CORPUS/iproute2" "$T/ip2"
rm -f "$T/ip2/rt_tables.d/vpnpolicy.conf"        # the corpus' stand-in for ours: the agent writes its own
conf=$T/vpnpolicy.conf
rel_conf "$conf"
cp "$conf" "$T/good.conf"
agent_start "$NS" "$conf" --iproute2-dir "$T/ip2"
check "start: healthy" wait_until 2000 ctl "$NS" status

tree_sum() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0r sha256sum | sha256sum); }
nft_rules() { ip netns exec "$NS" nft list ruleset 2>/dev/null | grep -v 'counter packets' || true; }

# ---------------------------------------------------------------------------------------------------------
info "A. the bad corpus, reloaded one by one"
rel_dump "$NS" "$T/a-before.dump"
ip2_before=$(tree_sum "$T/ip2")
nft_before=$(nft_rules | sha256sum)
st0=$(status_json "$NS")
relmon_start "$NS" "$T/mon-bad"
n=0 bad=()
for f in "$CORPUS"/*.conf; do
        first=$(head -n1 "$f")
        [[ $first =~ ^#\ expect:\ ([-0-9]+):\ (.*)$ ]] || { bad+=("${f##*/}: no expect line"); continue; }
        line=${BASH_REMATCH[1]} text=${BASH_REMATCH[2]}
        if [[ $line == - ]]; then want="$conf: "; else want="$conf:$line: "; fi
        cp "$f" "$conf"
        n=$((n + 1))
        if ((n % 2)); then
                rc=0
                ctl "$NS" reload >"$T/out" 2>&1 || rc=$?
                if ((rc != 1)); then
                        bad+=("${f##*/}: vpnpolicyctl reload exit $rc, not 1")
                elif ! grep -F -- "$want" "$T/out" | grep_q -F -- "$text"; then
                        bad+=("${f##*/}: reload error lacks '$want...$text': $(head -c 300 "$T/out")")
                fi
        else
                lines0=$(wc -l <"$T/agent-$NS.log")
                kill -HUP "$AGENT_PID"
                if ! wait_until 3000 eval 'tail -n +$((lines0 + 1)) "$T/agent-$NS.log" | grep_q "Failed to reload"'; then
                        bad+=("${f##*/}: SIGHUP: no reload failure logged")
                elif ! tail -n "+$((lines0 + 1))" "$T/agent-$NS.log" | grep -F -- "$want" | grep_q -F -- "$text"; then
                        bad+=("${f##*/}: SIGHUP: the log lacks '$want...$text'")
                fi
        fi
done
cp "$T/good.conf" "$conf"
sleep 0.2
relmon_stop
check "monitor lossless" true
info "$n bad configurations reloaded"
check "the corpus has at least 100 bad configurations ($n)" test "$n" -ge 100
if ((${#bad[@]})); then
        _vpt_fail "every bad reload refused with its FILE:LINE: message" "${#bad[@]} of $n" "$(printf '%s\n' "${bad[@]}" | head -n 20)"
else
        _vpt_pass "every bad reload refused with its FILE:LINE: message ($n: $(((n + 1) / 2)) by vpnpolicyctl reload, $((n / 2)) by SIGHUP)"
fi
assert_eq "monitor: no rule or route message during the $n bad reloads" 0 "$(grep -vc '^#' "$T/mon-bad")"
rel_dump "$NS" "$T/a-after.dump"
check "rules and routes byte-for-byte as before" cmp -s "$T/a-before.dump" "$T/a-after.dump"
assert_eq "rt_tables.d/rt_protos.d untouched" "$ip2_before" "$(tree_sum "$T/ip2")"
assert_eq "nftables ruleset untouched" "$nft_before" "$(nft_rules | sha256sum)"
st=$(status_json "$NS")
assert_eq "reload_failures counts every bad reload" $(($(jq .counters.reload_failures <<<"$st0") + n)) \
        "$(jq .counters.reload_failures <<<"$st")"
assert_eq "the old configuration is still in force (pools)" "$(jq -c .config.pools <<<"$st0")" "$(jq -c .config.pools <<<"$st")"
check "agent alive and healthy" ctl "$NS" status
figure config_bad_reloads "$n" reloads
figure config_bad_reload_kernel_messages "$(grep -vc '^#' "$T/mon-bad")" messages

rel_conf "$T/mapped.conf"
sed -i 's/^IPv6=fd00:1010:1010:1010::1$/IPv6=::ffff:192.168.1.1/' "$T/mapped.conf"
rc=0
"$VPNPOLICYD" --check-config --config "$T/mapped.conf" --iproute2-dir "$T/ip2" >"$T/out" 2>&1 || rc=$?
check "--check-config rejects a v4-mapped IPv6 gateway (::ffff:192.168.1.1, refused by the kernel as a nexthop): exit $rc" \
        test "$rc" = 78

# ---------------------------------------------------------------------------------------------------------
info "B. good reloads: no object wanted before and after is ever deleted"
# step NAME EXPECT(changes|none) [INI LINES...]: write the config (seed 003 + lines), reload, check
STEP=0
step() {
        local name=$1 expect=$2 dels wanted_both how
        shift 2
        STEP=$((STEP + 1))
        rel_dump "$NS" "$T/b$STEP-before.dump"
        rel_ours "$T/b$STEP-before.dump" | sed -E 's/ (gw|oif)=[^ ]*//g' | sort -u >"$T/b$STEP-before.keys"
        if [[ ${1:-} == --dropin ]]; then
                shift
                mkdir -p "$conf.d"
                printf '%s\n' "$1" | tr '|' '\n' >"$conf.d/10-test.conf"
                shift
        elif [[ ${1:-} == --no-dropin ]]; then
                shift
                rm -rf "$conf.d"
        fi
        st0=$(status_json "$NS")
        rel_conf "$conf.new" "$@"
        mv "$conf.new" "$conf"
        relmon_start "$NS" "$T/b$STEP.mon"
        if ((STEP % 2)); then
                how="vpnpolicyctl reload"
                check "$STEP $name: $how" ctl "$NS" reload
        else
                how=SIGHUP
                local n0
                n0=$(notify_lines "$NS")
                kill -HUP "$AGENT_PID"
                check "$STEP $name: $how done (READY=1 after RELOADING=1)" notify_wait "$NS" READY=1 3000 "$n0"
        fi
        check "$STEP $name: healthy" wait_until 3000 ctl "$NS" status
        st=$(status_json "$NS")
        check "$STEP $name: the reload was accepted (reloads +1, no failure)" test \
                "$(jq '.counters | [.reloads, .reload_failures]' -c <<<"$st")" = \
                "$(jq '.counters | [.reloads + 1, .reload_failures]' -c <<<"$st0")"
        sleep 0.2
        relmon_stop || _vpt_fail "$STEP $name: lossless monitor" "lost events" ""
        rel_dump "$NS" "$T/b$STEP-after.dump"
        rel_ours "$T/b$STEP-after.dump" | sed -E 's/ (gw|oif)=[^ ]*//g' | sort -u >"$T/b$STEP-after.keys"
        comm -12 "$T/b$STEP-before.keys" "$T/b$STEP-after.keys" >"$T/b$STEP-both.keys"
        relmon_keys "$T/b$STEP.mon" DEL | sed -E 's/ (gw|oif)=[^ ]*//g' | sort -u >"$T/b$STEP-del.keys"
        dels=$(comm -12 "$T/b$STEP-both.keys" "$T/b$STEP-del.keys")
        wanted_both=$(wc -l <"$T/b$STEP-both.keys")
        if [[ -z $dels ]]; then
                _vpt_pass "$STEP $name: none of the $wanted_both objects wanted before and after was deleted"
        else
                _vpt_fail "$STEP $name: none of the $wanted_both objects wanted before and after was deleted" \
                        "deleted:" "$dels"
        fi
        if [[ $expect == none ]]; then
                assert_eq "$STEP $name: no rule or route message at all" 0 "$(grep -vc '^#' "$T/b$STEP.mon")"
        fi
        info "$STEP $name ($how): $(grep -c ' NEW ' "$T/b$STEP.mon" || true) additions/replacements, $(grep -c ' DEL ' "$T/b$STEP.mon" || true) deletions, $wanted_both objects kept"
        # the kernel holds exactly what a fresh agent builds from this configuration
        fresh_compare "$STEP $name"
}
# fresh_compare NAME: our objects as a fresh agent in a twin namespace builds them (same devices)
fresh_compare() {
        rel_ours "$T/b$STEP-after.dump" | sed -E 's/ oif=[^ ]*//g' >"$T/b$STEP-ours"
        agent_stop TERM
        rel_flush_ours "$NS"
        assert_eq "$1: twin start from nothing" "" "$(ip netns exec "$NS" "$RELNL" dump | awk '/ proto=211 /')"
        agent_start "$NS" "$conf" --iproute2-dir "$T/ip2"
        rel_dump "$NS" "$T/b$STEP-fresh.dump"
        rel_ours "$T/b$STEP-fresh.dump" | sed -E 's/ oif=[^ ]*//g' >"$T/b$STEP-fresh"
        if cmp -s "$T/b$STEP-ours" "$T/b$STEP-fresh"; then
                _vpt_pass "$1: the kernel holds what a fresh start builds ($(wc -l <"$T/b$STEP-fresh") objects)"
        else
                _vpt_fail "$1: the kernel holds what a fresh start builds" "differs (- after reload, + fresh)" \
                        "$(diff "$T/b$STEP-ours" "$T/b$STEP-fresh" | head -n 10)"
        fi
}

POOL2=("[Pool]" "Prefix=10.20.0.0/24" "Prefix=fd00:20::/64")
step "a pool added (v4 and v6)" changes "${POOL2[@]}"
step "the pool removed again" changes
step "v4 and v6 gateways changed" changes "[Gateway]" "IPv4=192.168.1.2" "IPv6=fd00:1010:1010:1010::2"
step "gateways back" changes
step "rule priority 32765 -> 32000" changes "[Table]" "Priority=32000"
step "table id 200 -> 201 (name vpn2)" changes "[Table]" "Id=201" "Name=vpn2"
step "back to table 200" changes
step "FailClosed=no" changes "[Kernel]" "FailClosed=no"
step "MirrorRoutes=no" changes "[Tunnels]" "MirrorRoutes=no"
step "tun0 no longer matched (Match=tunX*)" changes "[Tunnels]" "Match=tunX*"
step "everything back" changes
step "SendRedirects=yes, Masquerade=yes (no routing change)" none "[Kernel]" "SendRedirects=yes" "[Firewall]" "Masquerade=yes"
step "the second pool in a drop-in" changes --dropin "[Pool]|Prefix=10.20.0.0/24|Prefix=fd00:20::/64"
step "the same pools from the main file, the drop-in removed (no change)" none --no-dropin "${POOL2[@]}" "# moved from the drop-in"
step "comments and blank lines (no change)" none "# a comment" "" "${POOL2[@]}" "; another comment"
step "back to seed 003" changes
figure config_good_reloads "$STEP" reloads
agent_stop TERM
check "SIGTERM exit 0" test "$AGENT_RC" = 0
finish
