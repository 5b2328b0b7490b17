#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Configuration, end to end through the binaries:
#  - `vpnpolicyd --check-config` rejects every file of tests/unit/bad-configs (and each case of
#    bad-configs/dirs: policies.d and drop-ins beside the main file) with exit 78 and the
#    expected "FILE:LINE: [Section] Key: reason" on stderr, inside a namespace, touching nothing: no
#    kernel event (ip monitor), no rt_tables.d/rt_protos.d file written. A clash with the namespace's own
#    rt_tables.d and an error in a drop-in are reported the same way; the daemon proper refuses to start
#    with exit 78 and changes nothing either.
#  - `--check-config --print` output parses back to the same output (packaging config, good corpus,
#    and good-configs/dirs, whose policies.d and drop-ins print into one file, as their golden DIR.print).
#  - A bad SIGHUP reload and a bad `vpnpolicyctl reload` keep the old config: no kernel change, the error
#    with file:line, reload_failures counted. A good reload that changes the pools removes the dropped
#    pool's rule and adds the new one with no event at all for the unchanged ones. A reload from Id=200 to
#    Id=201 moves every object to table 201 and leaves table 200 empty.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/seed003.sh
source "$(dirname "$0")/../lib/seed003.sh"

seed003_uplink NS GW
ETC=/etc/netns/$NS/iproute2

# tree_sum DIR: a fingerprint of every file (name and content) under DIR
tree_sum() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0r sha256sum | sha256sum); }
# kernel_sum: a fingerprint of the namespace's rules and routes
kernel_sum() { { ip -n "$NS" -4 rule; ip -n "$NS" -6 rule; ip -n "$NS" route show table all; ip -n "$NS" -6 route show table all; } | sha256sum; }

# ---------------------------------------------------------------------------------------------------------
info "--check-config on the bad corpus (exit 78, FILE:LINE: message, nothing touched)"
cp -a "$SOURCE_ROOT/tests/unit/bad-configs/iproute2" "$T/iproute2-bad"
ip2_before=$(tree_sum "$T/iproute2-bad")
etc_before=$(tree_sum "$ETC")
k_before=$(kernel_sum)
monitor_start "$NS" "$T/mon-check"
n=0 bad=()
for f in "$SOURCE_ROOT"/tests/unit/bad-configs/*.conf; do
        first=$(head -n1 "$f")
        [[ $first =~ ^#\ expect:\ ([-0-9]+):\ (.*)$ ]] || { bad+=("$f: no expect line"); continue; }
        line=${BASH_REMATCH[1]} text=${BASH_REMATCH[2]}
        if [[ $line == - ]]; then want="$f: "; else want="$f:$line: "; fi
        rc=0
        ns_exec "$NS" "$VPNPOLICYD" --check-config --config "$f" --iproute2-dir "$T/iproute2-bad" \
                >"$T/out" 2>"$T/err" || rc=$?
        n=$((n + 1))
        if ((rc != 78)); then
                bad+=("${f##*/}: exit $rc, not 78")
        elif ! grep -qF -- "$want" "$T/err" || ! grep -F -- "$want" "$T/err" | grep_q -F -- "$text"; then
                bad+=("${f##*/}: stderr lacks '$want...$text': $(head -c 300 "$T/err" || true)")
        elif [[ -s $T/out ]]; then
                bad+=("${f##*/}: printed on stdout")
        fi
done
info "$n bad configs checked"
check "corpus is not empty (>= 50 files)" test "$n" -ge 50
assert_eq "every bad config: exit 78 with FILE:LINE: message" "" "$(printf '%s\n' "${bad[@]}")"

# a main file with policies.d/ and drop-ins beside it: the error names the file it is in ("@/" in the
# expected text stands for the case's directory)
n=0 bad=()
for d in "$SOURCE_ROOT"/tests/unit/bad-configs/dirs/*/; do
        d=${d%/}
        first=$(head -n1 "$d/vpnpolicy.conf")
        [[ $first =~ ^#\ expect:\ ([^:]+):([-0-9]+):\ (.*)$ ]] || { bad+=("$d: no expect line"); continue; }
        rel=${BASH_REMATCH[1]} line=${BASH_REMATCH[2]} text=${BASH_REMATCH[3]//@\//$d/}
        if [[ $line == - ]]; then want="$d/$rel: "; else want="$d/$rel:$line: "; fi
        rc=0
        ns_exec "$NS" "$VPNPOLICYD" --check-config --config "$d/vpnpolicy.conf" --iproute2-dir "$T/iproute2-bad" \
                >"$T/out" 2>"$T/err" || rc=$?
        n=$((n + 1))
        if ((rc != 78)); then
                bad+=("${d##*/}: exit $rc, not 78")
        elif ! grep -F -- "$want" "$T/err" | grep_q -F -- "$text"; then
                bad+=("${d##*/}: stderr lacks '$want...$text': $(head -c 300 "$T/err")")
        fi
done
check "policy-file corpus is not empty (>= 10 cases)" test "$n" -ge 10
assert_eq "every bad policy directory: exit 78 with FILE:LINE: message" "" "$(printf '%s\n' "${bad[@]}")"

# the namespace's /etc/iproute2 (no --iproute2-dir): a few bad ones and a good one, none writes
for f in 02-unknown-key 24-prefix-host-bits 32-v6-pool-no-gateway; do
        rc=0
        ns_exec "$NS" "$VPNPOLICYD" --check-config --config "$SOURCE_ROOT/tests/unit/bad-configs/$f.conf" \
                >/dev/null 2>&1 || rc=$?
        assert_eq "$f (netns /etc/iproute2): exit 78" 78 "$rc"
done
check "a good config: --check-config exit 0" \
        ns_exec "$NS" "$VPNPOLICYD" --check-config --config "$SOURCE_ROOT/tests/unit/good-configs/01-seed003.conf"
monitor_stop
check_fail "check-config: no kernel event at all" grep -q . "$T/mon-check"
assert_eq "check-config: kernel state unchanged" "$k_before" "$(kernel_sum)"
assert_eq "check-config: --iproute2-dir left as it was" "$ip2_before" "$(tree_sum "$T/iproute2-bad")"
assert_eq "check-config: namespace /etc/iproute2 left as it was" "$etc_before" "$(tree_sum "$ETC")"
check_fail "check-config: no rt_tables.d/vpnpolicy.conf written" test -e "$ETC/rt_tables.d/vpnpolicy.conf"
check_fail "check-config: no rt_protos.d/vpnpolicy.conf written" test -e "$ETC/rt_protos.d/vpnpolicy.conf"

# usage errors: exit 2
rc=0; "$VPNPOLICYD" --no-such-option >/dev/null 2>&1 || rc=$?
assert_eq "unknown option: exit 2" 2 "$rc"
rc=0; "$VPNPOLICYD" --print >/dev/null 2>&1 || rc=$?
assert_eq "--print without --check-config: exit 2" 2 "$rc"

# ---------------------------------------------------------------------------------------------------------
info "a clash with the namespace's rt_tables.d, an error in a drop-in, and the daemon refusing to start"
conf=$T/vpnpolicy.conf
seed003_config --pool 10.10.10.0/24 --pool fd00:4242:4242:4242::/64 --pool 10.30.30.0/24 "$conf"
printf '# someone else\n200\tother\n' >"$ETC/rt_tables.d/other.conf"
rc=0
ns_exec "$NS" "$VPNPOLICYD" --check-config --config "$conf" 2>"$T/err" || rc=$?
assert_eq "table 200 named 'other' in the namespace: exit 78" 78 "$rc"
check "... error names $conf:3 [Table] Id" grep -qF "$conf:3: [Table] Id:" "$T/err"
monitor_start "$NS" "$T/mon-refuse"
rc=0
timeout 10 ip netns exec "$NS" "$VPNPOLICYD" --config "$conf" --runtime-dir "$T/run-refused" >/dev/null 2>"$T/err" || rc=$?
monitor_stop
assert_eq "the daemon with that clash: exit 78" 78 "$rc"
check "... and says why with file:line" grep -qF "$conf:3: [Table] Id:" "$T/err"
check_fail "... no kernel event" grep -q . "$T/mon-refuse"
check_fail "... no rt_tables.d/vpnpolicy.conf" test -e "$ETC/rt_tables.d/vpnpolicy.conf"
check "... other.conf left alone" grep -qxP '200\tother' "$ETC/rt_tables.d/other.conf"
rm -f "$ETC/rt_tables.d/other.conf"

mkdir -p "$conf.d"
printf '[Pool]\nPrefix=10.40.40.1/24\n' >"$conf.d/50-bad.conf"
rc=0
ns_exec "$NS" "$VPNPOLICYD" --check-config --config "$conf" 2>"$T/err" || rc=$?
assert_eq "bad drop-in: exit 78" 78 "$rc"
check "... error names the drop-in $conf.d/50-bad.conf:2" grep -qF "$conf.d/50-bad.conf:2: [Pool] Prefix:" "$T/err"
rm -f "$conf.d/50-bad.conf"

# ---------------------------------------------------------------------------------------------------------
info "--check-config --print round trip"
rt_ok=0
for f in "$SOURCE_ROOT/packaging/vpnpolicy.conf" "$SOURCE_ROOT"/tests/unit/good-configs/*.conf; do
        b=${f##*/}
        if ! "$VPNPOLICYD" --check-config --print --config "$f" --iproute2-dir "$T/iproute2-empty" \
                >"$T/p1-$b" 2>"$T/e1-$b"; then
                _vpt_fail "round trip $b: first --print failed" "" "$(cat "$T/e1-$b")"
                continue
        fi
        if ! "$VPNPOLICYD" --check-config --print --config "$T/p1-$b" --iproute2-dir "$T/iproute2-empty" \
                >"$T/p2-$b" 2>"$T/e2-$b"; then
                _vpt_fail "round trip $b: the printed config does not parse" "" "$(cat "$T/e2-$b")"
                continue
        fi
        if cmp -s "$T/p1-$b" "$T/p2-$b"; then
                rt_ok=$((rt_ok + 1))
        else
                _vpt_fail "round trip $b: print(parse(print)) differs" "" "$(diff -u "$T/p1-$b" "$T/p2-$b")"
        fi
done
check "round trip: $rt_ok configs printed, re-parsed and printed identically" test "$rt_ok" -ge 5
# with policies.d and drop-ins: all in one printed file, which re-parses alone (in a directory of its own,
# without policies.d) to the same text, the golden DIR.print
for d in "$SOURCE_ROOT"/tests/unit/good-configs/dirs/*/; do
        d=${d%/} b=${d##*/}
        mkdir -p "$T/rt-$b"
        "$VPNPOLICYD" --check-config --print --config "$d/vpnpolicy.conf" --iproute2-dir "$T/iproute2-empty" \
                >"$T/rt-$b/vpnpolicy.conf" 2>"$T/e1-$b" || true
        "$VPNPOLICYD" --check-config --print --config "$T/rt-$b/vpnpolicy.conf" --iproute2-dir "$T/iproute2-empty" \
                >"$T/p2-$b" 2>"$T/e2-$b" || true
        assert_eq "round trip $b (policies.d, drop-ins): printed once = golden" "$(cat "$d.print")" \
                "$(cat "$T/rt-$b/vpnpolicy.conf" "$T/e1-$b")"
        assert_eq "round trip $b: printed twice = golden" "$(cat "$d.print")" "$(cat "$T/p2-$b" "$T/e2-$b")"
done
check "printed packaging config keeps the pools" grep -qx 'Prefix=fd00:4242:4242:4242::/64' "$T/p1-vpnpolicy.conf"
check "printed packaging config keeps the table" grep -qx 'Id=200' "$T/p1-vpnpolicy.conf"
# a drop-in is folded into the printed config
printf '[Pool]\nPrefix=10.40.40.0/24\n' >"$conf.d/50-more.conf"
"$VPNPOLICYD" --check-config --print --config "$conf" --iproute2-dir "$T/iproute2-empty" >"$T/p-dropin"
check "print folds in the drop-in's pool" grep -qx 'Prefix=10.40.40.0/24' "$T/p-dropin"
check "and keeps the main file's" grep -qx 'Prefix=10.30.30.0/24' "$T/p-dropin"
rm -rf "$conf.d"

# ---------------------------------------------------------------------------------------------------------
info "the running agent: bad reloads keep the old config"
# seed 003 and a third pool: one more v4 rule
RULES4='[{"priority":32765,"src":"10.10.10.0","srclen":24,"table":"vpn","protocol":"vpnpolicy"},
         {"priority":32765,"src":"10.30.30.0","srclen":24,"table":"vpn","protocol":"vpnpolicy"}]'
agent_start "$NS" "$conf"
assert_eq "start: v4 rules (2 pools)" "$RULES4" "$(rules_json "$NS" 4)"
assert_eq "start: v6 rules" "$RULES6" "$(rules_json "$NS" 6)"
good=$(cat "$conf")
status() { ctl "$NS" status --json || true; }   # JSON also when degraded (exit 3)
reload_failures() { status | jq .counters.reload_failures; }

# bad SIGHUP: an unknown key on line 4
sed 's/^Priority=32765$/Priorty=32765/' <<<"$good" >"$conf"
monitor_start "$NS" "$T/mon-badhup"
k_before=$(kernel_sum)
kill -HUP "$AGENT_PID"
check "bad SIGHUP: reload_failures = 1" wait_until 3000 eval '[[ $(reload_failures) == 1 ]]'
sleep 0.3
monitor_stop
check_fail "bad SIGHUP: no kernel event" grep -q . "$T/mon-badhup"
assert_eq "bad SIGHUP: kernel unchanged" "$k_before" "$(kernel_sum)"
check "bad SIGHUP: the log names $conf:4" grep -qF "$conf:4: [Table] Priorty:" "$T/agent-$NS.log"
check "bad SIGHUP: agent alive" _vpt_alive "$AGENT_PID"
st=$(status)
assert_eq "bad SIGHUP: status keeps the old pools" \
        '["10.10.10.0/24","fd00:4242:4242:4242::/64","10.30.30.0/24"]' "$(jq -c .config.pools <<<"$st")"
# reloads counts attempts, reload_failures the failed ones
assert_eq "bad SIGHUP: counted as an attempt that failed" '{"reloads":1,"reload_failures":1}' \
        "$(jq -c '.counters | {reloads, reload_failures}' <<<"$st")"

# bad ctl reload: host bits on line 9
sed 's|^Prefix=10.30.30.0/24$|Prefix=10.30.30.1/24|' <<<"$good" >"$conf"
monitor_start "$NS" "$T/mon-badctl"
rc=0
ctl "$NS" reload >"$T/reload.out" 2>&1 || rc=$?
sleep 0.3
monitor_stop
assert_eq "bad ctl reload: exit 1" 1 "$rc"
check "bad ctl reload: prints $conf:9: [Pool] Prefix" grep -qF "$conf:9: [Pool] Prefix: 10.30.30.1/24 has host bits set" "$T/reload.out"
check_fail "bad ctl reload: no kernel event" grep -q . "$T/mon-badctl"
assert_eq "bad ctl reload: reload_failures = 2" 2 "$(reload_failures)"
assert_eq "bad ctl reload: v4 rules unchanged" "$RULES4" "$(rules_json "$NS" 4)"
check "bad ctl reload: still healthy" ctl "$NS" status

# ---------------------------------------------------------------------------------------------------------
info "good reload: pool 10.30.30.0/24 replaced by 10.20.20.0/24"
sed 's|^Prefix=10.30.30.0/24$|Prefix=10.20.20.0/24|' <<<"$good" >"$conf"
monitor_start "$NS" "$T/mon-good"
n0=$(notify_lines "$NS")
kill -HUP "$AGENT_PID"
check "SIGHUP: READY=1 after RELOADING=1" notify_wait "$NS" READY=1 3000 "$n0"
check "new pool's rule in" wait_until 2000 eval '[[ -n $(ip -n "$NS" rule show from 10.20.20.0/24) ]]'
check "old pool's rule out" wait_until 2000 eval '[[ -z $(ip -n "$NS" rule show from 10.30.30.0/24) ]]'
sleep 0.2
monitor_stop
assert_eq "after the pool change: v4 rules" \
        '[{"priority":32765,"src":"10.10.10.0","srclen":24,"table":"vpn","protocol":"vpnpolicy"},
          {"priority":32765,"src":"10.20.20.0","srclen":24,"table":"vpn","protocol":"vpnpolicy"}]' \
        "$(rules_json "$NS" 4)"
assert_eq "after the pool change: v6 rules" "$RULES6" "$(rules_json "$NS" 6)"
assert_eq "after the pool change: v4 routes" "$ROUTES4" "$(routes_json "$NS" 4 200)"
sed 's/^/#   /' "$T/mon-good"
assert_eq "monitor: exactly two events" 2 "$(grep -c . "$T/mon-good")"
check "monitor: the old pool's rule deleted" grep -q 'Deleted 32765:.*from 10.30.30.0/24 lookup vpn' "$T/mon-good"
check "monitor: the new pool's rule added" grep -qE '\] 32765:.*from 10.20.20.0/24 lookup vpn' "$T/mon-good"
check_fail "monitor: no event for the unchanged pools (no gap)" \
        grep -E '10\.10\.10\.0/24|fd00:4242:4242:4242::/64|default' "$T/mon-good"
st=$(status)
assert_eq "status: 3 reloads, 2 of them failed" '{"reloads":3,"reload_failures":2}' \
        "$(jq -c '.counters | {reloads, reload_failures}' <<<"$st")"
assert_eq "status: new pools" '["10.10.10.0/24","fd00:4242:4242:4242::/64","10.20.20.0/24"]' \
        "$(jq -c .config.pools <<<"$st")"

# ---------------------------------------------------------------------------------------------------------
info "reload: Id=200 -> Id=201"
sed -e 's|^Prefix=10.30.30.0/24$|Prefix=10.20.20.0/24|' -e 's/^Id=200$/Id=201/' <<<"$good" >"$conf"
check "ctl reload: exit 0" ctl "$NS" reload
check "table 200 emptied (v4)" wait_until 2000 eval '[[ $(routes_json "$NS" 4 200) == "[]" ]]'
check "table 200 emptied (v6)" wait_until 2000 eval '[[ $(routes_json "$NS" 6 200) == "[]" ]]'
assert_eq "table 201: v4 routes" "$ROUTES4" "$(routes_json "$NS" 4 201)"
assert_eq "table 201: v6 routes" "$ROUTES6" "$(routes_json "$NS" 6 201)"
check "rt_tables.d says '201 vpn' now" grep -qP '^201\s+vpn$' "$ETC/rt_tables.d/vpnpolicy.conf"
check_fail "rt_tables.d no longer says 200" grep -qP '^200\s' "$ETC/rt_tables.d/vpnpolicy.conf"
r4=$(ip -n "$NS" -4 -j rule show | jq -c '[.[] | select(.priority == 32765) | {src, table}] | sort')
assert_eq "v4 rules look up 201 (numbers as the kernel has them)" \
        '[{"src":"10.10.10.0","table":"201"},{"src":"10.20.20.0","table":"201"}]' \
        "$(ip -n "$NS" -4 -j rule show | jq -c '[.[] | select(.priority == 32765) | {src, table: (.table | if . == "vpn" then "201" else . end)}] | sort')"
info "v4 rules at 32765 as ip -n shows them: $r4"
check "no rule left looking up 200" test -z "$(ip -n "$NS" -4 rule show table 200; ip -n "$NS" -6 rule show table 200)"
assert_eq "exactly one v6 rule" 1 "$(rules_json "$NS" 6 | jq length)"
check "status: table id 201, healthy, all present" \
        jq -e '.config.table.id == 201 and .health == "healthy" and all(.objects[]; .present)' <<<"$(status)"

finish
