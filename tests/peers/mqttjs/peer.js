// An MQTT.js (npm package mqtt) client for the integration tests, driven
// by the command line; one JSON object a line on stdout.
//   node peer.js pub PORT JSON   JSON: {clientId, protocolVersion, messages:
//                                [{topic, payload, qos, retain, alias}],
//                                autoAssignTopicAlias, autoUseTopicAlias,
//                                topicAliasMaximum}; publishes them in order,
//                                each after the previous one's
//                                acknowledgement, then {"acked": n,
//                                "aliasSet": PUBLISHes sent with a topic and
//                                a Topic Alias, "aliasUsed": sent with an
//                                empty topic and a Topic Alias}
//   node peer.js sub PORT JSON   JSON: {clientId, clean, protocolVersion,
//                                subs: [[filter, qos]]}; prints {"ready": true,
//                                "sessionPresent", "granted"} once subscribed,
//                                then {"topic", "payload", "qos", "retain"} per
//                                message; disconnects when stdin closes
'use strict';
const mqtt = require('mqtt');

const [cmd, port, json] = process.argv.slice(2);
const opt = JSON.parse(json || '{}');
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const fail = (e) => {
  process.stderr.write(`mqttjs peer: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
};

function connectProps() {
  const p = {};
  if (opt.clean === false) p.sessionExpiryInterval = 3600;
  if (opt.topicAliasMaximum) p.topicAliasMaximum = opt.topicAliasMaximum;
  return Object.keys(p).length ? p : undefined;
}

// onMessage is set before CONNACK: a resumed session's messages may come
// in the same read as the CONNACK.
function connect(onMessage) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      clientId: opt.clientId,
      clean: opt.clean !== false,
      protocolVersion: opt.protocolVersion || 4,
      properties: opt.protocolVersion === 5 ? connectProps() : undefined,
      autoAssignTopicAlias: !!opt.autoAssignTopicAlias,
      autoUseTopicAlias: !!opt.autoUseTopicAlias,
      reconnectPeriod: 0,
      connectTimeout: 30000,
    });
    if (onMessage) c.on('message', onMessage);
    c.once('connect', (connack) => resolve([c, connack]));
    c.once('error', reject);
  });
}

async function pub() {
  const [c] = await connect();
  // what went on the wire: MQTT.js puts the alias in before sending
  const seen = { aliasSet: 0, aliasUsed: 0 };
  c.on('packetsend', (p) => {
    if (p.cmd !== 'publish' || !p.properties || !p.properties.topicAlias) return;
    seen[p.topic.length ? 'aliasSet' : 'aliasUsed']++;
  });
  let n = 0;
  for (const m of opt.messages) {
    const o = { qos: m.qos || 0, retain: !!m.retain };
    if (m.alias) o.properties = { topicAlias: m.alias };
    await c.publishAsync(m.topic, m.payload, o);
    n++;
  }
  await c.endAsync();
  out({ acked: n, ...seen });
}

async function sub() {
  const [c, connack] = await connect((topic, payload, packet) => {
    out({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain });
  });
  c.on('error', fail);
  let granted = [];
  if (opt.subs && opt.subs.length) {
    const g = await c.subscribeAsync(opt.subs.map(([f, q]) => ({ [f]: { qos: q } })).reduce((a, b) => Object.assign(a, b), {}));
    granted = g.map((x) => x.qos);
  }
  out({ ready: true, sessionPresent: !!connack.sessionPresent, granted });
  process.stdin.resume();
  process.stdin.on('end', () => c.end(false, () => process.exit(0)));
}

({ pub, sub })[cmd]().catch(fail);
