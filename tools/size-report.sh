#!/bin/sh
# Builds the board once with every feature and once with each feature
# switched off (each in its own build folder) and prints the stripped size
# of eddy for each, with the difference from the full build.
# Usage: size-report.sh BOARD BUILD FEATURE...
board=$1; build=$2; shift 2
make=${MAKE:-make}
stripped() { # $1: build folder, rest: make variables
    b=$1; shift
    $make -s --no-print-directory BOARD="$board" BUILD="$b" "$@" size 2>&1 |
        awk '/bytes stripped/ {print $2; found=1} END {if (!found) exit 1}'
}
full=$(stripped "$build") || { echo "size-report: the full build of $board failed" >&2; exit 1; }
printf '%-22s %9s %9s\n' "$board build" bytes delta
printf '%-22s %9d %9s\n' "all features" "$full" ""
status=0
for f in "$@"; do
    if s=$(stripped "$build/size-no-$(echo "$f" | tr 'A-Z_' 'a-z-')" "WITH_$f=0"); then
        printf '%-22s %9d %9d\n' "WITH_$f=0" "$s" $((s - full))
    else
        printf '%-22s %9s\n' "WITH_$f=0" "build failed"; status=1
    fi
done
exit $status
