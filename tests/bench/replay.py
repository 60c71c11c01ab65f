"""The wind-turbine recording replayed by one Kafka producer at full speed
into a topic with compression.type=zstd (make bench-flash runs it after
flash.py; not a test): each CSV line one record (no key), large batches
(linger.ms=100, up to 1 MB), acks=all, the producer sending its batches
uncompressed (Eddy re-encodes them to the topic's zstd at
compression.zstd.level, at most ED_RECODE_ZSTD_LEVEL_MAX) or zstd itself
(stored as sent), at topic levels 3 and 19.

Per configuration: bytes stored (the topic's .log files) and bytes the
broker caused to be written (/proc/PID/io write_bytes, as flash.py
measures) per CSV byte, and the event-loop time Eddy spent re-encoding per
MiB of records (eddy_recompress_seconds_total on /metrics).

Usage: replay.py [--base DIR]
Output: a Markdown table on stdout; progress on stderr."""
import argparse
import os
import re
import time
import urllib.request

from confluent_kafka import Producer

from flash import REPO, Eddy, create_topic, csv_rows, free_port, say, write_bytes

CONFIGS = [("none", 3), ("zstd", 3), ("none", 19), ("zstd", 19)]
SETTLE_S = 1.5


def metric(port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    m = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def replay(base, rows, sent, level):
    hport, cport = free_port(), free_port()
    b = Eddy(base, [f"http.listeners=http://127.0.0.1:{hport}", f"coap.listeners=coap://127.0.0.1:{cport}",
                    "compression.type=zstd", f"compression.zstd.level={level}"])
    try:
        create_topic(b, "replay")
        conf = {"bootstrap.servers": f"127.0.0.1:{b.kport}", "acks": "all", "linger.ms": 100,
                "batch.size": 1000000, "batch.num.messages": 100000, "compression.type": sent,
                "queue.buffering.max.kbytes": 65536}
        if sent == "zstd":
            conf["compression.level"] = min(level, 12)  # librdkafka's highest
        p = Producer(conf)
        errors = []
        w0, t0 = write_bytes(b.pid), time.monotonic()
        for r in rows:
            while True:
                try:
                    p.produce("replay", r, on_delivery=lambda err, msg: err and errors.append(err))
                    break
                except BufferError:
                    p.poll(0.01)
            p.poll(0)
        assert p.flush(120) == 0 and not errors, errors[:1]
        took = time.monotonic() - t0
        time.sleep(SETTLE_S)
        written = write_bytes(b.pid) - w0
        cpu_s = metric(hport, "eddy_recompress_seconds_total")
        rec_in = metric(hport, "eddy_recompressed_in_bytes_total")
        n_rec = metric(hport, "eddy_recompressed_batches_total")
    finally:
        b.stop()
    return {"stored": b.stored("replay"), "written": written, "took": took, "loop_s": cpu_s,
            "rec_in": rec_in, "n_rec": n_rec}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default=os.path.join(REPO, "build"))
    a = ap.parse_args()
    rows = csv_rows()
    csv = sum(len(r) for r in rows)
    t, load0 = time.time(), os.getloadavg()
    out = []
    for sent, level in CONFIGS:
        say(f"replay: producer {sent}, topic zstd level {level}")
        out.append((sent, level, replay(a.base, rows, sent, level)))
    print(f"{len(rows)} lines, {csv} CSV bytes; load average at start {load0[0]:.2f}, at end "
          f"{os.getloadavg()[0]:.2f}; {time.time() - t:.0f} s in all.\n")
    print("| producer sends | topic `compression.zstd.level` | batches re-encoded | stored / CSV "
          "| **written / CSV** | replay s | loop ms per MiB re-encoded |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for sent, level, r in out:
        per_mib = r["loop_s"] * 1e3 / (r["rec_in"] / (1 << 20)) if r["rec_in"] else 0
        print(f"| {sent} | {level} | {r['n_rec']:.0f} | {r['stored'] / csv:.3f} | "
              f"**{r['written'] / csv:.3f}** | {r['took']:.1f} | "
              + (f"{per_mib:.1f} |" if r["n_rec"] else "— |"))


if __name__ == "__main__":
    main()
