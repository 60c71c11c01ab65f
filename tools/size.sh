#!/bin/sh
# Prints the stripped size of the eddy binary and of each module's objects,
# and fails when the binary exceeds the board's budget (bytes). STRIP, SIZE
# and READELF name the board's binutils (cross builds pass theirs).
build=$1; budget=$2
strip_bin=${STRIP:-strip}
size_bin=${SIZE:-size}
readelf_bin=${READELF:-readelf}
tmp=$(mktemp); cp "$build/eddy" "$tmp"; $strip_bin "$tmp"
total=$(stat -c %s "$tmp"); rm -f "$tmp"
for d in platform storage core bridge tools; do
    [ -d "$build/obj/$d" ] || continue
    s=$(find "$build/obj/$d" -name '*.o' -exec $size_bin {} + 2>/dev/null | awk 'NR>1 && $1 ~ /^[0-9]+$/ {t+=$1+$2} END {print t+0}')
    printf '%-10s %8d bytes (text+data)\n' "$d" "$s"
done
libs=$($readelf_bin -d "$build/eddy" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
[ -n "$libs" ] && printf '%-10s %s(not counted)\n' shared "$libs"
printf '%-10s %8d bytes stripped (budget %d)\n' eddy "$total" "$budget"
[ "$total" -le "$budget" ] || { echo "size: over budget"; exit 1; }
