#!/bin/sh
# Prints the stripped size of the eddy binary and of each module's objects,
# and fails when the binary exceeds the board's budget (bytes).
build=$1; budget=$2
strip_bin=${STRIP:-strip}
tmp=$(mktemp); cp "$build/eddy" "$tmp"; $strip_bin "$tmp"
total=$(stat -c %s "$tmp"); rm -f "$tmp"
for d in platform storage core bridge tools; do
    [ -d "$build/obj/$d" ] || continue
    s=$(find "$build/obj/$d" -name '*.o' -exec size {} + 2>/dev/null | awk 'NR>1 && $1 ~ /^[0-9]+$/ {t+=$1+$2} END {print t+0}')
    printf '%-10s %8d bytes (text+data)\n' "$d" "$s"
done
printf '%-10s %8d bytes stripped (budget %d)\n' eddy "$total" "$budget"
[ "$total" -le "$budget" ] || { echo "size: over budget"; exit 1; }
