# shellcheck shell=bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/lib/guide.sh: run the marked blocks of a guide in docs/ against a test world, so the guide cannot
# rot. Source it after tests/lib/common.sh. A marker is an HTML comment on a line of its own, followed
# (blank lines allowed) by a fenced block:
#
#   <!-- guide-test: file /etc/vpnpolicy/vpnpolicy.conf -->   the block is that file's whole content
#   <!-- guide-test: run -->                                  shell commands; they must all succeed
#   <!-- guide-test: output -->                               lines the last run block must print, each
#                                                             a part of one output line (blanks squeezed)
#   <!-- guide-test: lines-in NAME -->                        lines the world's file NAME must contain
#   <!-- guide-test: log -->                                  lines the agent must have logged by then,
#                                                             each a part of one line of its log
#
# guide_extract GUIDE DIR writes each marked block to DIR/NNN-KIND (NNN its order) and its argument to
# DIR/NNN-KIND.arg; a marker not followed by a block, or an unknown kind, is an error.

guide_extract() {
        local guide=$1 dir=$2
        mkdir -p "$dir" || return 1
        awk -v dir="$dir" '
                function fail(msg) { printf "%s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"; bad = 1; exit 1 }
                /^<!-- guide-test: .* -->$/ {
                        if (pending != "") fail("marker not followed by a block")
                        pending = $0
                        sub(/^<!-- guide-test: /, "", pending)
                        sub(/ -->$/, "", pending)
                        next
                }
                /^```/ {
                        if (inblock) { inblock = 0; close(out); next }
                        if (plain) { plain = 0; next }
                        if (pending == "") { plain = 1; next }
                        kind = pending
                        sub(/ .*/, "", kind)
                        if (kind !~ /^(file|run|output|lines-in|log)$/) fail("unknown guide-test kind \"" kind "\"")
                        arg = substr(pending, length(kind) + 2)
                        out = sprintf("%s/%03d-%s", dir, ++n, kind)
                        printf "" > out
                        print arg > (out ".arg")
                        close(out ".arg")
                        inblock = 1
                        pending = ""
                        next
                }
                inblock { print > out; next }
                pending != "" && NF { fail("marker not followed by a block") }
                END { if (!bad && (inblock || pending != "")) fail("unterminated block"); if (!bad && !n) fail("no marked blocks") }
        ' "$guide"
}

# _guide_squeeze: blanks (spaces, tabs) squeezed to one space, trimmed
_guide_squeeze() { tr -s ' \t' '  ' | sed 's/^ //; s/ $//'; }

# guide_output_has OUTFILE EXPECTFILE: every line of EXPECTFILE (but blank ones and "...") is a part of a
# line of OUTFILE, blanks squeezed; prints the lines missing
guide_output_has() {
        local out=$1 want=$2 line missing=0 have
        have=$(_guide_squeeze <"$out")
        while IFS= read -r line; do
                line=$(_guide_squeeze <<<"$line")
                [[ -n $line && $line != ... ]] || continue
                if ! grep -qF -- "$line" <<<"$have"; then
                        echo "missing: $line"
                        missing=1
                fi
        done <"$want"
        ((missing == 0)) || { echo "--- the output was:"; cat "$out"; }
        return "$missing"
}

# guide_lines_in FILE EXPECTFILE: every non-blank line of EXPECTFILE is a whole line of FILE
guide_lines_in() {
        local file=$1 want=$2 line missing=0
        while IFS= read -r line; do
                [[ -n $line ]] || continue
                grep -qxF -- "$line" "$file" || { echo "missing in $file: $line"; missing=1; }
        done <"$want"
        return "$missing"
}

# ---------------------------------------------------------------------------------------------------------
# following a guide on a node of a test world. Set before use:
#   GUIDE_NS          the node's namespace (the agent's, started by agent_start there)
#   GUIDE_ETC         the directory standing for / under which the guide's /etc/vpnpolicy/... files go
#   GUIDE_SERVER_DIR  the directory standing for /etc/openvpn/server/ (and lines-in NAME's directory)
# and extract the guide into $T/guide (guide_extract).

# guide_files: the guide's file blocks, /etc/vpnpolicy/... written under $GUIDE_ETC
guide_files() {
        local f path
        for f in "$T"/guide/*-file; do
                path=$(cat "$f.arg")
                [[ $path == /etc/vpnpolicy/* ]] || die "guide: a file block outside /etc/vpnpolicy: $path"
                mkdir -p "$(dirname "$GUIDE_ETC$path")"
                cp "$f" "$GUIDE_ETC$path"
        done
}

# guide_shims: vpnpolicyctl and vpnpolicyd as the guide calls them, for the node's agent and files
guide_shims() {
        mkdir -p "$T/shim"
        printf '#!/bin/sh\nexec %q --runtime-dir %q "$@"\n' "$VPNPOLICYCTL" "$T/run-$GUIDE_NS" >"$T/shim/vpnpolicyctl"
        printf '#!/bin/sh\nexec %q --config %q "$@"\n' "$VPNPOLICYD" "$GUIDE_ETC/etc/vpnpolicy/vpnpolicy.conf" \
                >"$T/shim/vpnpolicyd"
        chmod 0755 "$T/shim/vpnpolicyctl" "$T/shim/vpnpolicyd"
}

# guide_run BLOCK: the block's commands on the node, its paths those of this world; output in BLOCK.out
guide_run() {
        local script
        script=$(sed -e "s#/etc/vpnpolicy/#$GUIDE_ETC/etc/vpnpolicy/#g" -e "s#/etc/openvpn/server/#$GUIDE_SERVER_DIR/#g" "$1")
        ns_exec "$GUIDE_NS" env PATH="$T/shim:$PATH" bash -euo pipefail -c "$script" >"$1.out" 2>&1
}
_guide_run_shown() {
        guide_run "$1" || { cat "$1.out"; return 1; }
}

# guide_checks: the run, output, lines-in and log blocks, in the guide's order
guide_checks() {
        local f last='' first
        for f in "$T"/guide/*; do
                [[ $f != *.arg && $f != *.out ]] || continue
                first=$(grep -m1 . "$f")
                case $f in
                *-run)
                        last=$f
                        check "guide: \`$first\` succeeds" _guide_run_shown "$f"
                        ;;
                *-output)
                        [[ -n $last ]] || die "guide: an output block before any run block"
                        check "guide: \`$(grep -m1 . "$last")\` prints what the guide shows" guide_output_has "$last.out" "$f"
                        ;;
                *-lines-in)
                        check "guide: $(cat "$f.arg") has the lines the guide shows" \
                                guide_lines_in "$GUIDE_SERVER_DIR/$(cat "$f.arg")" "$f"
                        ;;
                *-log)
                        check "guide: the agent logged what the guide shows ($first)" \
                                guide_output_has "$T/agent-$GUIDE_NS.log" "$f"
                        ;;
                esac
        done
}
