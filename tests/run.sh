#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/run.sh: the one test command. As root on a fresh Debian 12 machine it installs what it needs,
# builds twice (build/: gcc, werror; build-asan/: ASan+UBSan), runs every test and ends with one line
#   N passed, N failed[, N skipped]
# It exits 1 if anything failed (or nothing ran), 0 otherwise. See --help.

# Debian packages the build and the tests need. One list, add yours here.
DEPS="meson ninja-build gcc clang pkg-config libmnl-dev libsystemd-dev libinih-dev libjansson-dev libnftnl-dev libmicrohttpd-dev
libnetfilter-conntrack-dev conntrack
uthash-dev libclang-rt-14-dev iproute2 nftables openvpn openssl socat jq mandoc iputils-ping procps psmisc kmod
valgrind strace systemd-container build-essential debhelper lintian fakeroot rpm python3-jsonschema
bash-completion wireguard-tools wireguard-go stress-ng prometheus curl"

set -uo pipefail

usage() {
        cat <<'EOF'
Usage: tests/run.sh [--quick] [--suite NAME]... [--no-install] [--help]

Installs missing Debian packages (all of them when CI=true), builds build/ (gcc, werror) and build-asan/
(ASan+UBSan), runs meson's tests in build/ (all suites; the integration suite a second time with the CPUs
under load, its tests named "loaded / NAME") and build-asan/ (unit, integration), then the end-to-end
scripts tests/e2e/test-*.sh, and prints a summary ending in "N passed, N failed".

  --quick        only build/: no loaded pass, no sanitizer build, no reliability suite, no e2e, no
                 packages, no fuzzers
  --suite NAME   only this meson suite (repeatable); e2e runs only if NAME is e2e, the package
                 tests (tests/pkg/test-*.sh: build, install and purge the .deb, build the .rpm) only if
                 NAME is pkg
  --no-install   never call apt-get
  -h, --help     this text

Run as root: integration and e2e tests create network namespaces (they skip otherwise).
EOF
}

QUICK=
NO_INSTALL=
SUITES=()
while (($#)); do
        case $1 in
        --quick) QUICK=1 ;;
        --suite)
                [[ $# -ge 2 && -n $2 ]] || { echo "run.sh: --suite needs a NAME" >&2; exit 2; }
                SUITES+=("$2")
                shift
                ;;
        --suite=*) SUITES+=("${1#--suite=}") ;;
        --no-install) NO_INSTALL=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
        esac
        shift
done

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." || exit 1
ROOT=$PWD
START=$SECONDS

PASSED=0
FAILED=0
SKIPPED=0
FAILED_NAMES=()
FAILED_LOGS=()          # files holding the output of each failed test, same order
TMPFILES=()
LOAD_PID=               # stress-ng of the loaded pass, while it runs
trap 'rm -rf "${TMPFILES[@]}"; [[ -z $LOAD_PID ]] || kill "$LOAD_PID" 2>/dev/null' EXIT

step() { printf '\n=== %s (%ds)\n' "$*" $((SECONDS - START)); }

# fail NAME LOGFILE: count a failure that is not a meson test (a build step, an e2e script, leftovers)
fail() {
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$1")
        FAILED_LOGS+=("${2:-}")
}

has_suite() {
        local s
        ((${#SUITES[@]})) || return 0
        for s in "${SUITES[@]}"; do [[ $s == "$1" ]] && return 0; done
        return 1
}

# ---------------------------------------------------------------------------------------------------------
install_deps() {
        local p log missing=()
        for p in $DEPS; do
                dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
        done
        if [[ ${CI:-} != true ]] && ((${#missing[@]} == 0)); then
                return 0
        fi
        if [[ -n $NO_INSTALL ]]; then
                ((${#missing[@]} == 0)) || echo "run.sh: missing packages (not installed, --no-install): ${missing[*]}" >&2
                return 0
        fi
        if ((EUID != 0)); then
                echo "run.sh: missing packages and not root, cannot install: ${missing[*]}" >&2
                return 0
        fi
        step "installing packages${missing[*]:+ (missing: ${missing[*]})}"
        log=$(mktemp)
        TMPFILES+=("$log")
        export DEBIAN_FRONTEND=noninteractive
        # shellcheck disable=SC2086
        if ! { apt-get update -q && apt-get install -y -q --no-install-recommends $DEPS; } </dev/null >"$log" 2>&1; then
                tail -n 30 "$log"
                echo "run.sh: apt-get failed" >&2
                return 1
        fi
        grep -E '^[0-9]+ upgraded' "$log"
}

# setup DIR CC OPTIONS...: configure DIR; a stale or broken directory, or one set up with another compiler,
# is wiped and set up afresh.
setup() {
        local dir=$1 cc=$2
        shift 2
        if [[ -f $dir/meson-private/coredata.dat ]] &&
                grep -q "^C compiler for the host machine: $cc " "$dir/meson-logs/meson-log.txt" 2>/dev/null; then
                meson setup --reconfigure "$dir" "$@" && return 0
                echo "run.sh: reconfiguring $dir failed, wiping it and starting afresh"
        fi
        rm -rf "$dir"
        CC=$cc meson setup "$dir" "$@"
}

build() {
        local dir=$1 cc=$2 log
        shift 2
        step "building $dir ($cc)"
        log=$(mktemp)
        TMPFILES+=("$log")
        if ! setup "$dir" "$cc" "$@" >"$log" 2>&1; then
                cat "$log"
                fail "$dir: meson setup" "$log"
                return 1
        fi
        grep -E '^(Build targets|Project name|C compiler for the host)' "$log"
        if ! meson compile -C "$dir"; then
                fail "$dir: compile"
                return 1
        fi
}

# meson_test DIR ARGS...: run meson's tests, count them from meson-logs/$LOGBASE.json (default testlog);
# $PREFIX (default none) goes before each test's name in the summary.
meson_test() {
        local dir=$1 log name result out base=${LOGBASE:-testlog} prefix=${PREFIX:-}
        shift
        log=$dir/meson-logs/$base.json
        rm -f "$log"
        step "meson test -C $dir $*"
        meson test -C "$dir" --logbase "$base" "$@"
        if [[ ! -f $log ]]; then
                echo "run.sh: no $log: no tests ran in $dir"
                return 0
        fi
        mkdir -p "$dir/meson-logs/failed"
        while IFS=$'\t' read -r name result; do
                case $result in
                OK | EXPECTEDFAIL) PASSED=$((PASSED + 1)) ;;
                SKIP) SKIPPED=$((SKIPPED + 1)) ;;
                *)
                        out=$dir/meson-logs/failed/${prefix//[^A-Za-z0-9_.-]/_}${name//[^A-Za-z0-9_.-]/_}.log
                        jq -r --arg n "$name" 'select(.name == $n) | .stdout // "", .stderr // ""' "$log" >"$out"
                        fail "$dir: $prefix$name ($result)" "$out"
                        ;;
                esac
        done < <(jq -r '[.name, .result] | @tsv' "$log")
}

# Each libFuzzer target for FUZZ_SECONDS over its seed corpus (tests/fuzz/corpus/NAME), new inputs in a
# scratch dir so the repository's corpus stays as committed. A crash is a failed test; its input is kept
# under build-fuzz/crashes/ for the log.
run_fuzz() {
        local f name log rc scratch
        command -v clang >/dev/null || { echo "run.sh: no clang, skipping fuzzers"; return 0; }
        build build-fuzz clang -Dfuzzers=true -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=false \
                -Dbuildtype=debug || return 0
        step "fuzzers (${FUZZ_SECONDS:-30}s each)"
        mkdir -p build-fuzz/crashes build-fuzz/fuzz-logs
        for f in build-fuzz/tests/fuzz/fuzz-*; do
                [[ -f $f && -x $f ]] || continue
                name=${f##*/fuzz-}
                log=build-fuzz/fuzz-logs/$name.log
                scratch=$(mktemp -d)
                TMPFILES+=("$scratch")
                rc=0
                "$f" "$scratch" "tests/fuzz/corpus/$name" -max_total_time="${FUZZ_SECONDS:-30}" \
                        -artifact_prefix=build-fuzz/crashes/"$name"- -print_final_stats=1 </dev/null >"$log" 2>&1 || rc=$?
                if ((rc == 0)); then
                        PASSED=$((PASSED + 1))
                        printf '%-50s OK (%s runs)\n' "fuzz / $name" "$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
                else
                        printf '%-50s FAIL (exit %s)\n' "fuzz / $name" "$rc"
                        fail "fuzz: $name (exit $rc)" "$log"
                fi
        done
}

# The integration suite again with the CPUs busy (stress-ng, LOAD_CPUS workers at LOAD_PERCENT, default
# 2 and 80): a test that passes on a quiet machine and fails on a busy one has found a race (style.md 30).
# Its tests count on their own, named "loaded / NAME".
run_loaded() {
        if ! command -v stress-ng >/dev/null; then
                echo "run.sh: stress-ng is missing: no loaded pass"
                fail "loaded pass: stress-ng is missing"
                return 0
        fi
        stress-ng --cpu "${LOAD_CPUS:-2}" --cpu-load "${LOAD_PERCENT:-80}" --timeout 2h --quiet </dev/null \
                >/dev/null 2>&1 &
        LOAD_PID=$!
        LOGBASE=loaded PREFIX="loaded / " meson_test build --suite integration --timeout-multiplier 2
        kill "$LOAD_PID" 2>/dev/null
        wait "$LOAD_PID" 2>/dev/null
        LOAD_PID=
}

run_e2e() {
        local t name log rc
        local -a scripts=()
        for t in tests/e2e/test-*.sh; do [[ -f $t ]] && scripts+=("$t"); done
        ((${#scripts[@]})) || return 0
        step "e2e (${#scripts[@]} scripts)"
        mkdir -p build/e2e-logs
        for t in "${scripts[@]}"; do
                name=$(basename "$t" .sh)
                log=build/e2e-logs/$name.log
                rc=0
                VPNPOLICYD=$ROOT/build/agent/daemon/vpnpolicyd VPNPOLICYCTL=$ROOT/build/agent/ctl/vpnpolicyctl \
                        NOTIFY_WAIT=$ROOT/build/tests/helpers/notify-wait SOURCE_ROOT=$ROOT BUILD=$ROOT/build \
                        timeout --kill-after=10 "${E2E_TIMEOUT:-600}" bash "$t" </dev/null >"$log" 2>&1 || rc=$?
                case $rc in
                0) PASSED=$((PASSED + 1)); printf '%-50s OK\n' "e2e / $name" ;;
                77) SKIPPED=$((SKIPPED + 1)); printf '%-50s SKIP\n' "e2e / $name" ;;
                *)
                        [[ $rc == 124 ]] && echo "(timed out after ${E2E_TIMEOUT:-600}s)" >>"$log"
                        printf '%-50s FAIL (exit %s)\n' "e2e / $name" "$rc"
                        fail "e2e: $name (exit $rc)" "$log"
                        ;;
                esac
        done
}

# The package tests (tests/pkg/test-*.sh): each builds the packages from this checkout and installs and
# purges the .deb on this machine (never starting the service, leaving the machine as it was). Each check
# (a PASS: or FAIL: line) counts as a test; a script that fails without a FAIL: line counts as one failure.
run_pkg() {
        local t name log rc npass nfail
        local -a scripts=()
        for t in tests/pkg/test-*.sh; do [[ -f $t ]] && scripts+=("$t"); done
        ((${#scripts[@]})) || return 0
        step "packages (${#scripts[@]} scripts)"
        mkdir -p build/pkg-logs
        for t in "${scripts[@]}"; do
                name=$(basename "$t" .sh)
                log=build/pkg-logs/$name.log
                rc=0
                SOURCE_ROOT=$ROOT BUILD=$ROOT/build PKG_OUT=$ROOT/build/pkg \
                        timeout --kill-after=10 "${PKG_TIMEOUT:-900}" bash "$t" </dev/null >"$log" 2>&1 || rc=$?
                npass=$(grep -c '^PASS: ' "$log" || true)
                nfail=$(grep -c '^FAIL: ' "$log" || true)
                grep '^# figure: ' "$log"
                if ((rc == 77)); then
                        SKIPPED=$((SKIPPED + 1))
                        printf '%-50s SKIP (%s)\n' "pkg / $name" "$(grep -m1 '^SKIP' "$log")"
                        continue
                fi
                PASSED=$((PASSED + npass))
                if ((rc == 0 && nfail == 0)); then
                        printf '%-50s OK (%s checks)\n' "pkg / $name" "$npass"
                        continue
                fi
                [[ $rc == 124 ]] && echo "(timed out after ${PKG_TIMEOUT:-900}s)" >>"$log"
                printf '%-50s FAIL (exit %s, %s of %s checks failed)\n' "pkg / $name" "$rc" "$nfail" $((npass + nfail))
                if ((nfail == 0)); then
                        fail "pkg: $name (exit $rc)" "$log"
                else
                        while IFS= read -r t; do fail "pkg: $name: ${t#FAIL: }" "$log"; done < <(grep '^FAIL: ' "$log")
                fi
        done
}

# Namespaces "vpt<pid>-<n>" (tests/lib/common.sh) whose test shell is gone were leaked by a test.
# Those of live shells belong to tests running now, here or in another checkout: never touched.
leftovers() {
        local what=$1 ns pid found=()
        for ns in $(ip netns list 2>/dev/null | awk '{print $1}') $(ls /etc/netns 2>/dev/null); do
                [[ $ns =~ ^vpt([0-9]+)-[0-9]+$ ]] || continue
                pid=${BASH_REMATCH[1]}
                [[ -d /proc/$pid ]] && continue
                found+=("$ns")
                # shellcheck disable=SC2046
                kill -KILL $(ip netns pids "$ns" 2>/dev/null) 2>/dev/null
                ip netns del "$ns" 2>/dev/null
                rm -rf "/etc/netns/$ns"
        done
        ((${#found[@]})) || return 0
        mapfile -t found < <(printf '%s\n' "${found[@]}" | sort -u)
        echo "run.sh: $what: removed namespaces left behind: ${found[*]}"
        [[ $what == before ]] || fail "harness: tests left namespaces behind (${found[*]})"
}

# ---------------------------------------------------------------------------------------------------------
install_deps || fail "install dependencies"
((EUID == 0)) || echo "run.sh: not root: integration and e2e tests will be skipped" >&2
leftovers before

MESON_SUITES=()
for s in "${SUITES[@]}"; do MESON_SUITES+=(--suite "$s"); done
# the reliability suite (a few minutes) belongs to the full run; --quick leaves it out unless asked for
if [[ -n $QUICK ]] && ((${#SUITES[@]} == 0)); then MESON_SUITES+=(--no-suite reliability); fi

if build build gcc -Dwerror=true; then
        meson_test build "${MESON_SUITES[@]}"
fi

if [[ -z $QUICK ]]; then
        if has_suite integration && [[ -x build/agent/daemon/vpnpolicyd ]]; then
                step "the integration suite again, under CPU load (stress-ng --cpu ${LOAD_CPUS:-2} --cpu-load ${LOAD_PERCENT:-80})"
                run_loaded
        fi
        ASAN_SUITES=()
        for s in unit integration; do has_suite "$s" && ASAN_SUITES+=(--suite "$s"); done
        if ((${#ASAN_SUITES[@]})); then
                cc=gcc
                command -v clang >/dev/null && cc=clang
                if build build-asan "$cc" -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=false \
                        -Dbuildtype=debug; then
                        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
                                UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
                                meson_test build-asan "${ASAN_SUITES[@]}" --timeout-multiplier 3
                fi
        fi
        if has_suite e2e && [[ -x build/agent/daemon/vpnpolicyd ]]; then
                run_e2e
        fi
fi

if [[ -z $QUICK ]] && has_suite pkg; then
        run_pkg
fi

if [[ -z $QUICK ]] && has_suite fuzz; then
        run_fuzz
fi

leftovers after

step "summary"
for i in "${!FAILED_NAMES[@]}"; do
        echo "FAILED: ${FAILED_NAMES[i]}"
        if [[ -n ${FAILED_LOGS[i]} && -s ${FAILED_LOGS[i]} ]]; then
                if grep -q '^FAIL' "${FAILED_LOGS[i]}"; then
                        echo "    --- FAIL lines ---"
                        grep '^FAIL' "${FAILED_LOGS[i]}" | head -n 30 | sed 's/^/    /'
                fi
                echo "    --- last ${TAIL_LINES:-60} lines of ${FAILED_LOGS[i]} ---"
                tail -n "${TAIL_LINES:-60}" "${FAILED_LOGS[i]}" | sed 's/^/    /'
        fi
done
rc=0
((FAILED == 0)) || rc=1
if ((PASSED + FAILED == 0)); then
        echo "run.sh: no test ran: that is a failure"
        rc=1
fi
echo "time: $((SECONDS - START))s"
if ((SKIPPED)); then
        echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
else
        echo "$PASSED passed, $FAILED failed"
fi
exit $rc
