"""The Paris metro line 1 lab: each station's train events go into a topic of
its own with kafka-console-producer (topics auto-created, as in the course)
and come back complete and in order through kafka-console-consumer."""

import pytest

from conftest import KAFKA_CLI_VERSIONS, kafka_tool, recording

STATIONS = [
    ("VincennesStation", "VINCENNES.txt"),
    ("NationStation", "NATION.txt"),
    ("GareDeLyonStation", "GARE_DE_LYON.txt"),
    ("BastilleStation", "BASTILLE.txt"),
    ("ChateletStation", "CHATELET.txt"),
]


@pytest.mark.parametrize("i", range(len(STATIONS)), ids=[s[0] for s in STATIONS])
def test_station_topic_roundtrip(broker, i):
    topic, name = STATIONS[i]
    data = recording("metro-line1", name).read_bytes()
    lines = data.decode().splitlines()
    assert len(lines) > 900
    # Alternate the tool generations: produce with one, consume with the other.
    prod_v = KAFKA_CLI_VERSIONS[i % 2]
    cons_v = KAFKA_CLI_VERSIONS[(i + 1) % 2]
    kafka_tool(prod_v, "kafka-console-producer", "--bootstrap-server", broker.bootstrap, "--topic", topic, input=data)
    out = kafka_tool(
        cons_v,
        "kafka-console-consumer",
        "--bootstrap-server",
        broker.bootstrap,
        "--topic",
        topic,
        "--from-beginning",
        "--max-messages",
        str(len(lines)),
        "--timeout-ms",
        "30000",
    ).stdout.decode()
    assert out.splitlines() == lines
    # Auto-created with the broker's num.partitions (1).
    with broker.conn() as c:
        md = c.metadata([topic])
    assert md["topics"][topic]["error"] == 0 and len(md["topics"][topic]["partitions"]) == 1

