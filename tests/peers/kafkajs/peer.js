// KafkaJS peer for the integration tests: a keyed produce and a consume,
// records exchanged as hex (same line format as the franz-go peer).
//   node peer.js produce BROKERS TOPIC   stdin "KEYHEX VALUEHEX" -> "PARTITION OFFSET"
//   node peer.js consume BROKERS TOPIC N [TIMEOUT_MS]
//                                        stdout "PARTITION OFFSET KEYHEX VALUEHEX"
//   node peer.js version
// kafkajs is found through NODE_PATH (the peers cache). KAFKAJS_SSL_CA=FILE
// connects over TLS, trusting the PEM authorities in FILE. SASL when
// PEER_SASL_MECHANISM is set (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), with
// PEER_SASL_USERNAME and PEER_SASL_PASSWORD.
'use strict';
const fs = require('fs');
const { Kafka, logLevel, Partitioners } = require('kafkajs');

function sslOption() {
  const ca = process.env.KAFKAJS_SSL_CA;
  return ca ? { ca: [fs.readFileSync(ca, 'utf8')] } : undefined;
}

function sasl() {
  const m = process.env.PEER_SASL_MECHANISM;
  if (!m) return undefined;
  return { mechanism: m.toLowerCase(), username: process.env.PEER_SASL_USERNAME, password: process.env.PEER_SASL_PASSWORD };
}
function fromHex(s) {
  if (s === '-') return null;
  if (s === '=') return Buffer.alloc(0);
  return Buffer.from(s, 'hex');
}
function toHex(b) {
  if (b === null || b === undefined) return '-';
  if (b.length === 0) return '=';
  return b.toString('hex');
}
// KafkaJS logs through console (stdout); keep stdout for records.
function logCreator() {
  return ({ label, log }) => {
    process.stderr.write(`[${label}] ${log.message} ${log.error || ''}\n`);
  };
}
// Exit only once stdout and stderr are drained: writes to a pipe are
// asynchronous and process.exit() would cut them short.
function finish(code) {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}
function die(msg) {
  process.stderr.write('kafkajs-peer: ' + msg + '\n');
  finish(1);
}
function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

async function produce(brokers, topic) {
  const kafka = new Kafka({ clientId: 'eddy-test-kafkajs', brokers: brokers.split(','), ssl: sslOption(), logLevel: logLevel.WARN, logCreator, sasl: sasl() });
  // The default partitioner is Java-compatible murmur2.
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const messages = [];
  for (const line of (await readStdin()).split('\n')) {
    const t = line.trim();
    if (!t) continue;
    const f = t.split(/\s+/);
    if (f.length !== 2) throw new Error('bad input line ' + JSON.stringify(t));
    messages.push({ key: fromHex(f[0]), value: fromHex(f[1]) });
  }
  const out = [];
  // One send per record so every record gets its own offset back.
  for (const m of messages) {
    const res = await producer.send({ topic, acks: -1, messages: [m] });
    out.push(res[0].partition + ' ' + res[0].baseOffset);
  }
  await producer.disconnect();
  process.stdout.write(out.map((l) => l + '\n').join(''));
}

async function consume(brokers, topic, n, timeoutMs) {
  const kafka = new Kafka({ clientId: 'eddy-test-kafkajs', brokers: brokers.split(','), ssl: sslOption(), logLevel: logLevel.WARN, logCreator, sasl: sasl() });
  const consumer = kafka.consumer({ groupId: 'eddy-test-kafkajs-' + process.pid + '-' + Date.now() });
  const lines = [];
  let settle;
  const done = new Promise((resolve) => { settle = resolve; });
  const timer = setTimeout(() => settle(false), timeoutMs);
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      if (lines.length >= n) return;
      lines.push(partition + ' ' + message.offset + ' ' + toHex(message.key) + ' ' + toHex(message.value));
      if (lines.length >= n) settle(true);
    },
  });
  const ok = await done;
  clearTimeout(timer);
  await consumer.disconnect();
  process.stdout.write(lines.map((l) => l + '\n').join(''));
  if (!ok) throw new Error('timeout after ' + lines.length + ' of ' + n + ' records');
}

async function main() {
  const [cmd, ...a] = process.argv.slice(2);
  if (cmd === 'version') {
    process.stdout.write(require('kafkajs/package.json').version + '\n');
  } else if (cmd === 'produce' && a.length === 2) {
    await produce(a[0], a[1]);
  } else if (cmd === 'consume' && (a.length === 3 || a.length === 4)) {
    await consume(a[0], a[1], parseInt(a[2], 10), a[3] ? parseInt(a[3], 10) : 30000);
  } else {
    throw new Error('usage: peer.js produce BROKERS TOPIC | consume BROKERS TOPIC N [TIMEOUT_MS] | version');
  }
}

main().then(() => finish(0), (e) => die(e && e.stack ? e.stack : String(e)));
