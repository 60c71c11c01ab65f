#!/bin/sh
# Builds the board once with every feature and once with each feature
# switched off (each in its own build folder) and prints, for each, the
# stripped size of eddy and the text+data of all library objects (what the
# binary can grow to as commands use them), with differences from the full
# build. Usage: size-report.sh BOARD BUILD FEATURE...
board=$1; build=$2; shift 2
make=${MAKE:-make}
measure() { # $1: build folder, rest: make variables; prints "stripped objects"
    b=$1; shift
    $make -s --no-print-directory BOARD="$board" BUILD="$b" "$@" size 2>&1 |
        awk '/text\+data/ {o += $2} /bytes stripped/ {s = $2; found = 1}
             END {if (!found) exit 1; print s, o}'
}
full=$(measure "$build") || { echo "size-report: the full build of $board failed" >&2; exit 1; }
fs=${full% *}; fo=${full#* }
printf '%-18s %9s %7s %9s %7s\n' "$board" stripped delta objects delta
printf '%-18s %9d %7s %9d %7s\n' "all features" "$fs" "" "$fo" ""
status=0
for f in "$@"; do
    if m=$(measure "$build/size-no-$(echo "$f" | tr 'A-Z_' 'a-z-')" "WITH_$f=0"); then
        s=${m% *}; o=${m#* }
        printf '%-18s %9d %7d %9d %7d\n' "WITH_$f=0" "$s" $((s - fs)) "$o" $((o - fo))
    else
        printf '%-18s %9s\n' "WITH_$f=0" "build failed"; status=1
    fi
done
exit $status
