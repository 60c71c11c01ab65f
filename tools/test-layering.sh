#!/bin/sh
# Tests of tools/check-layering.sh: it passes a clean tree and fails one in
# which a broker-domain file includes a Kafka-layer header, or core/
# includes an OS header, or bridge/ includes libcoap's header, or a storage file includes a header above it in
# the order inside storage/ (or is not placed in that order).
set -u
here=$(cd "$(dirname "$0")" && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir -p "$t/core/kafka" "$t/storage" "$t/bridge" "$t/platform"
echo '#include "core/config.h"' >"$t/core/topics.c"
echo '#include "core/kafka/kapi.h"' >"$t/core/kafka/kapi_produce.c"
printf '#include "storage/retention.h"\n#include "storage/log_roll.h"\n' >"$t/storage/log_append.c"
echo '#include "storage/log_int.h"' >"$t/storage/flush.h"
fail=0
LAYERING_ROOT="$t" sh "$here/check-layering.sh" /nonexistent >/dev/null || { echo "test-layering: a clean tree failed"; fail=1; }
for bad in '#include "core/kafka/kapi.h"' '#include "core/kafka/msg_gen.h"' '#include "core/kafka/kclient.h"' '#include "core/kafka/server.h"'; do
    echo "$bad" >"$t/core/ingest.c"
    if LAYERING_ROOT="$t" sh "$here/check-layering.sh" /nonexistent >/dev/null; then
        echo "test-layering: a domain file with $bad passed"; fail=1
    fi
done
rm "$t/core/ingest.c"
echo '#include "core/kafka/kapi.h"' >"$t/core/group_int.h"
if LAYERING_ROOT="$t" sh "$here/check-layering.sh" /nonexistent >/dev/null; then
    echo "test-layering: the group domain including core/kafka/kapi.h passed"; fail=1
fi
echo '#include "core/kafka/errors.h"' >"$t/core/group_int.h"
LAYERING_ROOT="$t" sh "$here/check-layering.sh" /nonexistent >/dev/null || { echo "test-layering: a domain file with Kafka's error codes (a leaf) failed"; fail=1; }
rm "$t/core/group_int.h"
for back in 'flush.c:storage/retention.h' 'segment.c:storage/log_int.h' 'log.c:storage/flush.h' 'batch.c:storage/segdir.h'; do
    echo "#include \"${back#*:}\"" >"$t/storage/${back%%:*}"
    if LAYERING_ROOT="$t" sh "$here/check-layering.sh" /nonexistent >/dev/null; then
        echo "test-layering: storage/${back%%:*} including ${back#*:} passed"; fail=1
    fi
    rm "$t/storage/${back%%:*}"
done
echo '#include "storage/log.h"' >"$t/storage/unplaced.c"
if LAYERING_ROOT="$t" sh "$here/check-layering.sh" /nonexistent >/dev/null; then
    echo "test-layering: a storage file outside the order passed"; fail=1
fi
rm "$t/storage/unplaced.c"
echo '#include "core/kafka/errors.h"' >"$t/core/pidstate.c"
LAYERING_ROOT="$t" sh "$here/check-layering.sh" /nonexistent >/dev/null || { echo "test-layering: a domain file with the error-code header failed"; fail=1; }
echo '#include "core/kafka/kapi.h"' >"$t/core/pidstate.c"
if LAYERING_ROOT="$t" sh "$here/check-layering.sh" /nonexistent >/dev/null; then
    echo "test-layering: core/pidstate.c including core/kafka/kapi.h passed"; fail=1
fi
rm "$t/core/pidstate.c"
echo '#include <unistd.h>' >"$t/core/conn.c"
if LAYERING_ROOT="$t" sh "$here/check-layering.sh" /nonexistent >/dev/null; then
    echo "test-layering: an OS header in core/ passed"; fail=1
fi
rm "$t/core/conn.c"
echo '#include <coap3/coap.h>' >"$t/bridge/coap.c"
if LAYERING_ROOT="$t" sh "$here/check-layering.sh" /nonexistent >/dev/null; then
    echo "test-layering: libcoap's header in bridge/ passed"; fail=1
fi
[ $fail = 0 ] && echo "test-layering: ok"
exit $fail
