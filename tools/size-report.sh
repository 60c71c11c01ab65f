#!/bin/sh
# Builds the board once with every feature and once with each feature
# switched off (each in its own build folder) and prints, for each: the
# stripped size of eddy (the file; on arm64 its segments are padded to
# 64 KiB pages, so it moves in steps), the text+data the linked eddy loads,
# and the text+data of all library objects (what the binary can grow to as
# commands use them), with differences from the full build.
# Usage: size-report.sh BOARD BUILD FEATURE...   (SIZE: the board's size tool)
board=$1; build=$2; shift 2
make=${MAKE:-make}
size_tool=${SIZE:-size}
measure() { # $1: build folder, rest: make variables; prints "stripped loaded objects"
    b=$1; shift
    m=$($make -s --no-print-directory BOARD="$board" BUILD="$b" "$@" size 2>&1 |
        awk '/text\+data/ {o += $2} /bytes stripped/ {s = $2; found = 1}
             END {if (!found) exit 1; print s, o}') || return 1
    l=$($size_tool "$b/eddy" | awk 'NR == 2 {print $1 + $2}') || return 1
    echo "${m% *} $l ${m#* }"
}
row() { # name stripped loaded objects [base...]
    if [ -z "$5" ]; then
        printf '%-14s %9d %7s %9d %7s %9d %7s\n' "$1" "$2" "" "$3" "" "$4" ""
    else
        printf '%-14s %9d %7d %9d %7d %9d %7d\n' "$1" "$2" $(($2 - $5)) "$3" $(($3 - $6)) "$4" $(($4 - $7))
    fi
}
full=$(measure "$build") || { echo "size-report: the full build of $board failed" >&2; exit 1; }
set -- "$@" -- $full
printf '%-14s %9s %7s %9s %7s %9s %7s\n' "$board" stripped delta loaded delta objects delta
status=0
feats=""
while [ "$1" != "--" ]; do feats="$feats $1"; shift; done
shift
fs=$1; fl=$2; fo=$3
row "all features" "$fs" "$fl" "$fo"
for f in $feats; do
    if m=$(measure "$build/size-no-$(echo "$f" | tr 'A-Z_' 'a-z-')" "WITH_$f=0"); then
        # shellcheck disable=SC2086
        row "WITH_$f=0" $m "$fs" "$fl" "$fo"
    else
        printf '%-14s %9s\n' "WITH_$f=0" "build failed"; status=1
    fi
done
exit $status
