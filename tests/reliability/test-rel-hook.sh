#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317,SC2016 # functions run indirectly, by check and wait_until (eval of '...')
# Reliability 8: the OpenVPN hook contract with the real OpenVPN (tests/e2e/world.sh), subnet and net30.
# The server runs as OpenVPN servers should: `user nobody`, `group nogroup`, `persist-tun`, `persist-key`,
# and `up-restart`, so its `up` (our hook, through a timing wrapper) runs as root at the start and as
# nobody at each of RESTARTS SIGUSR1 restarts (`explicit-exit-notify` lets the clients reconnect at once).
# The agent is started before OpenVPN. The first half of the restarts with the documented default
# ([Control] without RegisterUser=: a call from nobody is refused), the second half after a reload with
# RegisterUser=nobody (accepted). For every run of the hook:
#   - it exits 0 (non-strict), and OpenVPN carried on (its log says the initialization completed);
#   - its wall time as OpenVPN ran it stays under the hook's bound (2 s) plus 300 ms;
#   - it ran as root first, then as nobody (uid 65534);
#   - refused calls: the agent logs the refusal, the hook says why on stderr (in OpenVPN's log);
#     accepted calls: the agent logs the registration;
#   - after each restart table 200 holds tun0's routes and the mirrored routes (the agent follows
#     netlink, whatever the hook could do), and status is healthy.
# Then one more restart with the agent hung (SIGSTOP) and one with the agent stopped: the hook still exits
# 0 within its bound and OpenVPN initializes. At the end the clients reach the inet host (via nat only)
# and lan1 behind cl1, once both are connected again (OpenVPN's reconnect pace is its own).
# Sizes: RESTARTS 4 (CI) / 20 (full) per topology.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

for tool in /usr/sbin/openvpn nft ping openssl; do
        command -v "$tool" >/dev/null || skip_test "$tool is missing (tests/run.sh installs it)"
done
if ! getent passwd nobody >/dev/null || ! getent group nogroup >/dev/null; then
        skip_test "no user nobody or group nogroup"
fi
[[ -x $HOOK ]] || die "no hook binary at $HOOK (ninja -C $BUILD)"
RESTARTS=${RESTARTS:-$(rel_size 4 20)}
# shellcheck source=../e2e/world.sh
source "$SOURCE_ROOT/tests/e2e/world.sh"

# the timing wrapper: OpenVPN's `up`; records "T0_NS T1_NS RC UID" (from exec to exit of the hook) in a
# file nobody may write
mkdir -m 0777 "$T/hooklog"
make_wrapper() { # FILE RUNDIR
        cat >"$1" <<EOF
#!/bin/sh
t0=\$($(command -v date) +%s%N)
$HOOK --runtime-dir $2 "\$@"
rc=\$?
t1=\$($(command -v date) +%s%N)
echo "\$t0 \$t1 \$rc \$($(command -v id) -u)" >>$T/hooklog/\$dev.times
exit \$rc
EOF
        chmod 0755 "$1"
}

write_conf() { # FILE [REGISTER_USER]
        {
                printf '[Pool]\nPrefix=%s\nPrefix=%s\n' "$WORLD_POOL4" "$WORLD_POOL6"
                printf '[Gateway]\nIPv4=%s\nIPv6=%s\nDevice=eth1\n' "$WORLD_GW4" "$WORLD_GW6"
                printf '[Kernel]\nForwarding=enable\n'
                [[ -z ${2:-} ]] || printf '[Control]\nRegisterUser=%s\n' "$2"
        } >"$1"
}

pre_vpn() {
        # nobody must reach the ccd directory (client-config-dir is read per connection)
        chmod 0755 "$WORLD_DIR"
        write_conf "$T/vpnpolicy.conf"
        agent_start "$1" "$T/vpnpolicy.conf"
}

# client_listed NAME: the server's status file (rewritten every second) routes a pool address to NAME
client_listed() { grep -Eq "^10\.10\.10\.[0-9]+,$1," "$WORLD_DIR/log/srv.status" 2>/dev/null; }
srv_inits() { grep -c 'Initialization Sequence Completed' "$(world_log srv)" || true; }
hook_runs() { if [[ -f $T/hooklog/tun0.times ]]; then wc -l <"$T/hooklog/tun0.times"; else echo 0; fi; }

routes_right() { # TOPO
        local t4 t6
        t4=$(ip -n "$WORLD_SRV" -4 route show table 200)
        t6=$(ip -n "$WORLD_SRV" -6 route show table 200)
        if [[ $1 == subnet ]]; then
                [[ $t4 == *"$WORLD_POOL4 dev tun0 proto vpnpolicy"* ]] || return 1
        else
                [[ $t4 == *"10.10.10.2 dev tun0 proto vpnpolicy"* && $t4 == *"$WORLD_POOL4 via 10.10.10.2 dev tun0 proto vpnpolicy"* ]] || return 1
        fi
        [[ $t6 == *"$WORLD_POOL6 dev tun0 proto vpnpolicy"* ]] &&
                [[ $t4 =~ $WORLD_LAN4\ via\ [0-9.]+\ dev\ tun0\ proto\ vpnpolicy ]] &&
                [[ $t6 == *"$WORLD_LAN6 dev tun0 proto vpnpolicy"* ]] &&
                [[ $t4 == *"default via $WORLD_GW4 dev eth1 proto vpnpolicy"* ]]
}

MAX_WALL_US=0
ALL_WALLS=()
run_topology() {
        local topo=$1 i n0 runs0 policy line t0 t1 rc uid wall alog slog a0 s0 refused registered
        info "=== $topo: user nobody, persist-tun, up-restart; $RESTARTS SIGUSR1 restarts"
        export WORLD_PREFIX=vpr$$${topo:0:1}
        export WORLD_SERVER_EXTRA=$'user nobody\ngroup nogroup\npersist-tun\npersist-key\nup-restart\nexplicit-exit-notify 1'
        make_wrapper "$T/up-$topo.sh" "$T/run-$WORLD_PREFIX-srv"
        export WORLD_UP_HOOK=$T/up-$topo.sh
        export WORLD_PRE_VPN_HOOK=pre_vpn
        # created now, writable for nobody (the first run is root's: it would create it 0644)
        : >"$T/hooklog/tun0.times"
        chmod 0666 "$T/hooklog/tun0.times"
        world_up "$topo" || die "$topo: the world did not come up"
        alog=$T/agent-$WORLD_SRV.log
        slog=$(world_log srv)
        check "$topo: the first run of the hook (as root) registered tun0" grep -q 'Tunnel tun0 registered by OpenVPN' "$alog"
        check "$topo: routes right after the start" wait_until 2000 routes_right "$topo"

        for ((i = 1; i <= RESTARTS; i++)); do
                if ((i == RESTARTS / 2 + 1)); then
                        write_conf "$T/vpnpolicy.conf" nobody
                        check "$topo: reload with RegisterUser=nobody" ctl "$WORLD_SRV" reload
                fi
                policy=refuse
                ((i <= RESTARTS / 2)) || policy=allow
                n0=$(srv_inits)
                # shellcheck disable=SC2034 # read by the eval below
                runs0=$(hook_runs)
                a0=$(wc -l <"$alog")
                s0=$(wc -l <"$slog")
                kill -USR1 "$(world_openvpn_pid srv)"
                if ! wait_until 20000 eval '(( $(srv_inits) > n0 && $(hook_runs) > runs0 ))'; then
                        _vpt_fail "$topo restart $i: OpenVPN initialized again after SIGUSR1" "no" "$(tail -n 15 "$slog")"
                        continue
                fi
                read -r t0 t1 rc uid < <(tail -n 1 "$T/hooklog/tun0.times")
                wall=$(((t1 - t0) / 1000))
                ALL_WALLS+=("$wall")
                ((wall <= MAX_WALL_US)) || MAX_WALL_US=$wall
                refused=$(tail -n "+$((a0 + 1))" "$alog" | grep -c 'Refused RegisterTunnel from uid 65534' || true)
                registered=$(tail -n "+$((a0 + 1))" "$alog" | grep -c 'Tunnel tun0 registered by OpenVPN' || true)
                ok=1
                [[ $rc == 0 ]] || { ok=; echo "# exit status $rc"; }
                [[ $uid == 65534 ]] || { ok=; echo "# ran as uid $uid, not nobody"; }
                ((wall < 2300000)) || { ok=; echo "# wall time $(us_to_ms "$wall") ms"; }
                if [[ $policy == refuse ]]; then
                        ((refused == 1 && registered == 0)) || { ok=; echo "# agent: $refused refusals, $registered registrations"; }
                        tail -n "+$((s0 + 1))" "$slog" | grep_q 'vpnpolicy up hook: .*refused' ||
                                { ok=; echo "# no refusal line from the hook in OpenVPN's log"; }
                else
                        ((registered == 1 && refused == 0)) || { ok=; echo "# agent: $refused refusals, $registered registrations"; }
                fi
                wait_until 2000 routes_right "$topo" || { ok=; echo "# routes: $(ip -n "$WORLD_SRV" route show table 200 | tr '\n' ';')"; }
                wait_until 2000 ctl "$WORLD_SRV" status || { ok=; echo "# status not healthy"; }
                if [[ -n $ok ]]; then
                        _vpt_pass "$topo restart $i ($policy): hook as nobody exited 0 in $(us_to_ms "$wall") ms, agent $( [[ $policy == refuse ]] && echo refused || echo registered), routes right, healthy"
                else
                        _vpt_fail "$topo restart $i ($policy)" "see above" ""
                fi
        done
        # the bound itself: one restart with the agent hung (SIGSTOP), one with it gone
        for state in hung down; do
                n0=$(srv_inits)
                # shellcheck disable=SC2034 # read by the eval below
                runs0=$(hook_runs)
                if [[ $state == hung ]]; then kill -STOP "$AGENT_PID"; else agent_stop TERM; fi
                kill -USR1 "$(world_openvpn_pid srv)"
                if wait_until 20000 eval '(( $(srv_inits) > n0 && $(hook_runs) > runs0 ))'; then
                        read -r t0 t1 rc uid < <(tail -n 1 "$T/hooklog/tun0.times")
                        wall=$(((t1 - t0) / 1000))
                        ALL_WALLS+=("$wall")
                        ((wall <= MAX_WALL_US)) || MAX_WALL_US=$wall
                        check "$topo restart with the agent $state: the hook exited 0 in $(us_to_ms "$wall") ms (bound 2 s + 300 ms) and OpenVPN initialized" \
                                test "$rc" = 0 -a "$wall" -lt 2300000
                        figure "hook_${topo}_wall_agent_$state" "$(us_to_ms "$wall")" ms
                else
                        _vpt_fail "$topo restart with the agent $state: OpenVPN initialized again" "no" "$(tail -n 15 "$slog")"
                fi
                if [[ $state == hung ]]; then kill -CONT "$AGENT_PID"; else agent_start "$WORLD_SRV" "$T/vpnpolicy.conf"; fi
                check "$topo: after the agent $state: routes right, healthy" \
                        wait_until 3000 eval 'routes_right "$topo" && ctl "$WORLD_SRV" status >/dev/null'
        done
        check "$topo: OpenVPN never logged a failed up script" bash -c "! grep -Eq 'WARNING: Failed running command|script failed|exited with status [1-9]' '$slog'"
        # the first run, as root
        read -r t0 t1 rc uid < <(head -n 1 "$T/hooklog/tun0.times")
        wall=$(((t1 - t0) / 1000))
        ALL_WALLS+=("$wall")
        check "$topo: the first run was root's and exited 0" test "$uid:$rc" = 0:0
        figure "hook_${topo}_first_run" "$(us_to_ms "$wall")" ms
        # the clients reconnect (explicit-exit-notify), each at OpenVPN's own pace: a client whose hard
        # reset went out while the server was restarting retransmits it with a doubling timeout (2, 4, 8,
        # 16 s), so its return is waited for first, with a bound that covers that, then traffic must flow
        if wait_until 60000 eval 'client_listed cl1 && client_listed cl2'; then
                _vpt_pass "$topo: cl1 and cl2 are connected again (the server's status lists them)"
        else
                _vpt_fail "$topo: cl1 and cl2 are connected again" "no" \
                        "$(tail -n 15 "$(world_log cl1)" "$(world_log cl2)" "$WORLD_DIR/log/srv.status")"
        fi
        check "$topo: cl1 reaches the inet host, v4" wait_until 10000 world_ping cl1 "$WORLD_INET4"
        check "$topo: cl1 reaches the inet host, v6" wait_until 10000 world_ping cl1 "$WORLD_INET6"
        check "$topo: cl2 reaches lan1 behind cl1 (mirrored route)" wait_until 10000 world_ping cl2 "$WORLD_LAN1_4"
        check "$topo: no pool packet at rtr" test "$(world_counter rtr 4) $(world_counter rtr 6)" = "0 0"
        agent_stop TERM
        world_down
}

defer world_down
run_topology subnet
run_topology net30
max_ms=$(us_to_ms "$MAX_WALL_US")
figure hook_restarts $((RESTARTS * 2)) restarts
figure hook_wall_max "$max_ms" ms
figure hook_wall_p50 "$(us_to_ms "$(printf '%s\n' "${ALL_WALLS[@]}" | percentile 50)")" ms
check "the hook's wall time never exceeded its 2 s bound (+300 ms): max $max_ms ms" test "$MAX_WALL_US" -lt 2300000
finish
