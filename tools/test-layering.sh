#!/bin/sh
# Tests of tools/check-layering.sh: it passes a clean tree and fails one in
# which a broker-domain file includes a Kafka-layer header (the leaf header
# of Kafka's error codes excepted), or core/ includes an OS header.
set -u
here=$(cd "$(dirname "$0")" && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir -p "$t/core/kafka" "$t/storage" "$t/bridge" "$t/platform"
echo '#include "core/config.h"' >"$t/core/topics.c"
echo '#include "core/kapi.h"' >"$t/core/kapi_produce.c"
fail=0
LAYERING_ROOT="$t" sh "$here/check-layering.sh" /nonexistent >/dev/null || { echo "test-layering: a clean tree failed"; fail=1; }
for bad in '#include "core/kapi.h"' '#include "core/kafka/msg_gen.h"' '#include "core/kclient.h"' '#include "core/server.h"'; do
    echo "$bad" >"$t/core/ingest.c"
    if LAYERING_ROOT="$t" sh "$here/check-layering.sh" /nonexistent >/dev/null; then
        echo "test-layering: a domain file with $bad passed"; fail=1
    fi
done
rm "$t/core/ingest.c"
echo '#include "core/kafka/errors.h"' >"$t/core/pidstate.c"
LAYERING_ROOT="$t" sh "$here/check-layering.sh" /nonexistent >/dev/null || { echo "test-layering: a domain file with the error-code header failed"; fail=1; }
echo '#include "core/kapi.h"' >"$t/core/pidstate.c"
if LAYERING_ROOT="$t" sh "$here/check-layering.sh" /nonexistent >/dev/null; then
    echo "test-layering: core/pidstate.c including core/kapi.h passed"; fail=1
fi
rm "$t/core/pidstate.c"
echo '#include <unistd.h>' >"$t/core/conn.c"
if LAYERING_ROOT="$t" sh "$here/check-layering.sh" /nonexistent >/dev/null; then
    echo "test-layering: an OS header in core/ passed"; fail=1
fi
[ $fail = 0 ] && echo "test-layering: ok"
exit $fail
