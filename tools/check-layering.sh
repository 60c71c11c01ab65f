#!/bin/sh
# Enforces the platform line (STYLE.md rule 1): only platform/ may include OS
# or TLS/lwIP/libcoap headers; the Kafka wing: the broker domain (every file of
# core/ outside core/kafka/: the broker object, connection engine, ingest
# path, partitioner, config, topics, groups, producer state, users, SASL)
# includes no header of the Kafka layer core/kafka/ (wire codec, message
# schema, API handlers, server, client) but its leaf of error codes; the order inside storage/ (each
# storage file includes storage headers of its own rank or below, see
# docs/architecture.md, "Storage"); and symbol names (rule 5): every
# global is ed_*. LAYERING_ROOT runs it on another tree (its own test).
cd "${LAYERING_ROOT:-.}" || exit 2
status=0
bad=$(grep -rnE '#include *<(sys/|unistd\.h|errno\.h|fcntl\.h|pthread\.h|netinet/|arpa/|netdb\.h|poll\.h|signal\.h|time\.h|dirent\.h)|#include *[<"](lwip|mbedtls|coap3)/' storage core bridge 2>/dev/null)
if [ -n "$bad" ]; then
    echo "layering: OS headers outside platform/:"; echo "$bad"; status=1
fi
up=$(grep -rnE '#include *"(core|bridge)/' storage 2>/dev/null; grep -rnE '#include *"bridge/' core 2>/dev/null; grep -rnE '#include *"(storage|core|bridge)/' platform 2>/dev/null)
if [ -n "$up" ]; then
    echo "layering: include against the bridge -> core -> storage -> platform direction:"; echo "$up"; status=1
fi
# The order inside storage/, lowest first; a rank is one module (its .c
# files and headers). A file may include a storage header of its rank or
# a lower one; a new storage file must be given its place here.
storage_rank() {
    case "$1" in
    format.h | varint.h | crc32c.[ch] | snappy.[ch] | codec.[ch] | codec_int.h | cstream.[ch] | batch.[ch] | recode.[ch]) echo 0 ;; # record batches
    segdir.[ch]) echo 1 ;;                        # listing a partition folder
    log.h) echo 2 ;;                              # the public contract (types, the calls core makes)
    segment.[ch] | index.c | fdcache.c) echo 3 ;; # one segment, its indexes, open files
    log_int.h | log.c) echo 4 ;;                  # a log and the data directory as objects
    write_ahead.[ch]) echo 4 ;;                   # zeros written ahead of the appends
    checkpoint.[ch]) echo 5 ;;                    # checkpoint files
    cleanstop.[ch]) echo 5 ;;                     # the clean-shutdown marker
    flush.[ch]) echo 6 ;;                         # group commit
    log_roll.[ch] | log_read.c) echo 7 ;;         # rolling, dropping, reading segments
    retention.[ch]) echo 8 ;;                     # retention, the disk guard
    log_append.c | log_recode.c) echo 9 ;;        # appends, re-encoding producers' batches
    compact*.[ch]) echo 10 ;;                     # compaction
    recovery.[ch]) echo 11 ;;                     # opening a partition folder
    check.[ch]) echo 12 ;;                        # eddy check
    storage.c) echo 13 ;;                         # the data directory
    *) echo none ;;
    esac
}
order=$(for f in storage/*.[ch]; do
    [ -f "$f" ] || continue
    r=$(storage_rank "${f#storage/}")
    if [ "$r" = none ]; then echo "$f: not placed in the storage order"; continue; fi
    grep -oE '#include *"storage/[a-z0-9_]+\.h"' "$f" | sed 's/.*"storage\/\(.*\)"/\1/' | while read -r h; do
        hr=$(storage_rank "$h")
        if [ "$hr" = none ] || [ "$hr" -gt "$r" ]; then echo "$f (rank $r) includes storage/$h (rank $hr)"; fi
    done
done)
if [ -n "$order" ]; then
    echo "layering: against the order inside storage/:"; echo "$order"; status=1
fi
# An include of the Kafka layer into the domain fails the check. Kafka's
# error codes (core/kafka/errors.h) are a leaf the domain may report with.
known='"core/kafka/errors\.h"'
domain=$(ls core/*.[ch] 2>/dev/null)
kafka=$( [ -n "$domain" ] && grep -nE '#include *"core/kafka/' $domain | grep -vE "$known")
if [ -n "$kafka" ]; then
    echo "layering: the broker domain includes the Kafka layer:"; echo "$kafka"; status=1
fi
lib=${1:-build/libeddy.a}
if [ -f "$lib" ]; then
    globals=$(nm -g --defined-only "$lib" 2>/dev/null | awk 'NF==3 && $2 ~ /[TDBR]/ {print $3}' | grep -vE '^(ed_|LLVMFuzzer)' | sort -u)
    if [ -n "$globals" ]; then
        echo "layering: global symbols without the ed_ prefix:"; echo "$globals"; status=1
    fi
fi
[ $status = 0 ] && echo "layering: ok"
exit $status
