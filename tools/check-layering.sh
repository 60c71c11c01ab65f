#!/bin/sh
# Enforces the platform line (STYLE.md rule 1): only platform/ may include OS
# or TLS/lwIP headers; and symbol names (rule 5): every global is ed_*.
status=0
bad=$(grep -rnE '#include *<(sys/|unistd\.h|errno\.h|fcntl\.h|pthread\.h|netinet/|arpa/|netdb\.h|poll\.h|signal\.h|time\.h|dirent\.h)|#include *[<"](lwip|mbedtls)/' storage core bridge 2>/dev/null)
if [ -n "$bad" ]; then
    echo "layering: OS headers outside platform/:"; echo "$bad"; status=1
fi
up=$(grep -rnE '#include *"(core|bridge)/' storage 2>/dev/null; grep -rnE '#include *"bridge/' core 2>/dev/null; grep -rnE '#include *"(storage|core|bridge)/' platform 2>/dev/null)
if [ -n "$up" ]; then
    echo "layering: include against the bridge -> core -> storage -> platform direction:"; echo "$up"; status=1
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
