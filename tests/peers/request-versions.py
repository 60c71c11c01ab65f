#!/usr/bin/env python3
"""Which API versions each client really sent: reads the request logs an
Apache Kafka broker wrote with KAFKA_REQUEST_LOG=1 (kafka-broker.sh) and
prints, per client software (or client id), every API key and the versions
seen. Usage: request-versions.py DIR/requests.log [...] (or dirs to search)."""

import json
import sys
from collections import defaultdict
from pathlib import Path


def files(args):
    for a in args:
        p = Path(a)
        if p.is_dir():
            yield from sorted(p.rglob("requests.log"))
        else:
            yield p


def main(args):
    if not args:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    seen = defaultdict(lambda: defaultdict(set))
    names = {}
    for f in files(args):
        reqs = []
        software = {}  # connection -> client software
        for line in f.read_text(errors="replace").splitlines():
            i = line.find("{")
            if "Completed request:" not in line or i < 0:
                continue
            try:
                d = json.loads(line[i:])
            except ValueError:
                continue
            if d.get("listener") == "CONTROLLER":
                continue  # the broker talking to its own controller
            conn = d.get("connection")
            body = d.get("request") or {}
            info = d.get("clientInformation") or {}
            if body.get("clientSoftwareName"):
                software[conn] = f"{body['clientSoftwareName']} {body.get('clientSoftwareVersion', '')}".strip()
            elif info.get("softwareName", "unknown") != "unknown":
                software.setdefault(conn, f"{info['softwareName']} {info.get('softwareVersion', '')}".strip())
            reqs.append((conn, d.get("requestHeader", {})))
        for conn, h in reqs:
            who = software.get(conn) or f"client.id={h.get('clientId')}"
            key = h.get("requestApiKey")
            names[key] = h.get("requestApiKeyName", str(key))
            seen[who][key].add(h.get("requestApiVersion"))
    for who in sorted(seen):
        print(who)
        for key in sorted(seen[who]):
            vs = ",".join(str(v) for v in sorted(seen[who][key]))
            print(f"  {key:>2} {names[key]:<28} v{vs}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
