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
                        if (kind !~ /^(file|run|output|lines-in)$/) fail("unknown guide-test kind \"" kind "\"")
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
