// Independent generator of the gridtypes golden fixtures.
//
// For real-looking deployments of every workload type it writes, under ../tests/golden/:
// the deployment JSON (as a grid client sends it, signed), the challenge text built BY HAND from
// zos's Go sources (pkg/gridtypes/deployment.go, workload.go, zos/*.go), its MD5, the signed
// message, the twins' public keys and the capacity each workload consumes.
//
// Nothing here shares code with the Rust crate. Keys and signatures come from @polkadot/util-crypto
// (ed25519 and sr25519, sr25519 with substrate's "substrate" signing context), MD5 from node's
// crypto, IPv6 canonical text from node's WHATWG URL parser (RFC 5952, like Go's net.IP.String()).
//
// Run: npm ci && node generate.js

'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const {
  cryptoWaitReady,
  ed25519PairFromSeed,
  ed25519Sign,
  sr25519PairFromSeed,
  sr25519Sign,
  base58Encode,
} = require('@polkadot/util-crypto');
const { u8aToHex, stringToU8a } = require('@polkadot/util');

const OUT = path.join(__dirname, '..', 'tests', 'golden');
const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

// ---- Go fmt helpers -------------------------------------------------------------------------

const hex = (u8) => Buffer.from(u8).toString('hex');

// Go net.IP.String(): IPv4 dotted, IPv6 RFC 5952.
function goIp(text) {
  if (text === '') return '<nil>';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(text)) return text;
  const host = new URL(`http://[${text}]/`).hostname; // "[...]" canonical
  let v6 = host.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
  if (mapped) {
    const a = parseInt(mapped[1], 16);
    const b = parseInt(mapped[2], 16);
    v6 = [a >> 8, a & 255, b >> 8, b & 255].join('.');
  }
  return v6;
}

// gridtypes.IPNet.String() for a CIDR whose IPv4/IPv6 family matches its text: address as
// written (host bits kept) + "/" + prefix length.
function goIpNet(text) {
  if (text === '') return '<nil>';
  const [addr, bits] = text.split('/');
  return `${goIp(addr)}/${Number(bits)}`;
}

// ---- challenges, one function per zos type (see zos/*.go Challenge methods) ----------------

const dataChallenge = {
  zmount: (d) => `${d.size}`,
  volume: (d) => `${d.size}`,
  zdb: (d) => `${d.size}${d.mode}${d.password}${d.public}`,
  ipv4: () => '',
  ip: (d) => `${d.v4}${d.v6}`,
  network: (d) => {
    let s = goIpNet(d.ip_range) + goIpNet(d.subnet) + d.wireguard_private_key + d.wireguard_listen_port;
    for (const p of d.peers || []) {
      s += p.wireguard_public_key + p.endpoint + goIpNet(p.subnet);
      for (const ip of p.allowed_ips) s += goIpNet(ip);
    }
    if (d.mycelium) s += d.mycelium.hex_key.toLowerCase() + (d.mycelium.peers || []).join('');
    return s;
  },
  zmachine: (d) => {
    const n = d.network;
    let s = d.flist + n.public_ip + n.planetary;
    for (const inf of n.interfaces) s += inf.network + goIp(inf.ip);
    if (n.mycelium) s += n.mycelium.Network + n.mycelium.hex_seed.toLowerCase();
    s += `${d.size}${d.compute_capacity.cpu}${d.compute_capacity.memory}`;
    for (const m of d.mounts || []) s += m.name + m.mountpoint;
    s += d.entrypoint;
    for (const k of Object.keys(d.env || {}).sort()) s += `${k}=${d.env[k]}`;
    for (const g of d.gpu || []) s += g;
    // corex is not hashed
    return s;
  },
  'gateway-name-proxy': (d) => d.name + gatewayBase(d),
  'gateway-fqdn-proxy': (d) => d.fqdn + gatewayBase(d),
  qsfs: (d) => {
    const c = d.config;
    const enc = (e) => e.algorithm + e.key.toLowerCase();
    const be = (b) => b.address + b.namespace + b.password;
    let s = `${d.cache}${c.minimal_shards}${c.expected_shards}${c.redundant_groups}${c.redundant_nodes}${c.max_zdb_data_dir_size}`;
    s += enc(c.encryption);
    s += c.meta.type + c.meta.config.prefix + enc(c.meta.config.encryption);
    for (const b of c.meta.config.backends) s += be(b);
    for (const g of c.groups) for (const b of g.backends) s += be(b);
    s += c.compression.algorithm;
    return s;
  },
  zlogs: (d) => d.zmachine + d.output,
};

function gatewayBase(d) {
  let s = `${d.tls_passthrough}` + d.backends.join('');
  if (d.network !== undefined && d.network !== null) s += d.network;
  return s;
}

function workloadChallenge(w) {
  return `${w.version}${w.name}${w.type}${w.metadata}${w.description}` + dataChallenge[w.type](w.data);
}

function deploymentChallenge(d) {
  // contract_id is deliberately not part of it; neither are results and signatures.
  let s = `${d.version}${d.twin_id}${d.metadata}${d.description}${d.expiration}`;
  for (const w of d.workloads) s += workloadChallenge(w);
  const r = d.signature_requirement;
  for (const q of r.requests) s += `${q.twin_id}${q.required}${q.weight}`;
  s += `${r.weight_required}${r.signature_style}`;
  return s;
}

// ---- capacity (zos Capacity() per type) -----------------------------------------------------

function capacity(w) {
  const c = { cru: 0, sru: 0, hru: 0, mru: 0, ipv4u: 0 };
  const d = w.data;
  switch (w.type) {
    case 'zmount':
    case 'volume':
      c.sru = d.size;
      break;
    case 'zdb':
      c.hru = d.size;
      break;
    case 'ipv4':
      c.ipv4u = 1;
      break;
    case 'ip':
      c.ipv4u = d.v4 ? 1 : 0;
      break;
    case 'qsfs':
      c.cru = 1;
      c.mru = GIB;
      c.sru = d.cache;
      break;
    case 'zmachine': {
      const cu = Math.floor((d.compute_capacity.cpu * d.compute_capacity.memory) / (8 * GIB));
      const min = cu === 0 ? 500 * MIB : 2 * GIB;
      c.cru = d.compute_capacity.cpu;
      c.mru = d.compute_capacity.memory;
      c.sru = Math.max(d.size, min);
      break;
    }
    default:
      break;
  }
  return c;
}

// ---- keys -----------------------------------------------------------------------------------

function seed(label) {
  return crypto.createHash('sha256').update(`gridtypes golden ${label}`).digest();
}

function keypair(label, type) {
  const s = seed(label);
  return type === 'sr25519' ? sr25519PairFromSeed(s) : ed25519PairFromSeed(s);
}

function sign(message, pair, type) {
  return type === 'sr25519' ? sr25519Sign(message, pair) : ed25519Sign(message, pair);
}

// ---- deployments ----------------------------------------------------------------------------

function wl(name, type, data, extra = {}) {
  return {
    version: 0,
    name,
    type,
    data,
    metadata: '',
    description: '',
    result: { created: 0, state: '', message: '', data: null },
    ...extra,
  };
}

function deployment(twin, contract, workloads, requirement, extra = {}) {
  return {
    version: 0,
    twin_id: twin,
    contract_id: contract,
    metadata: '',
    description: '',
    expiration: 0,
    signature_requirement: { signatures: [], signature_style: '', ...requirement },
    workloads,
    ...extra,
  };
}

const WG_KEY = 'yMnVQm8o1mULzyFTfnFH1wHfuLNydn5TSl84VbKKelM=';
const WG_PEER = 'QZJB3h6lJU2/4U3ZbrnnJ2i4yT9T6yYmiS3oe3Cq7yo=';

const network = (name, subnet) =>
  wl(name, 'network', {
    ip_range: '10.20.0.0/16',
    subnet,
    wireguard_private_key: WG_KEY,
    wireguard_listen_port: 3011,
    peers: [
      {
        subnet: '10.20.3.0/24',
        wireguard_public_key: WG_PEER,
        allowed_ips: ['10.20.3.0/24', '100.64.20.3/32'],
        endpoint: '185.206.122.31:3011',
      },
    ],
  });

const cases = [];

// 1. A full VM: network (with mycelium and an IPv6 peer), ip, zmount, volume, zmachine, zlogs.
cases.push({
  name: 'vm_full',
  about: 'network+ip+zmount+volume+zmachine+zlogs, one ed25519 twin, default style',
  signers: [{ twin: 41, type: 'ed25519' }],
  deployment: deployment(
    41,
    1207,
    [
      wl('net1', 'network', {
        ip_range: '10.20.0.0/16',
        subnet: '10.20.2.0/24',
        wireguard_private_key: WG_KEY,
        wireguard_listen_port: 3011,
        peers: [
          {
            subnet: '10.20.3.0/24',
            wireguard_public_key: WG_PEER,
            allowed_ips: ['10.20.3.0/24', '100.64.20.3/32'],
            endpoint: '185.206.122.31:3011',
          },
          {
            subnet: '10.20.4.0/24',
            wireguard_public_key: 'lhgM7a/tFPTr1KFsNnf4RBNv1B4pvtTv/Hz8YsjwfF0=',
            allowed_ips: ['10.20.4.0/24', '100.64.20.4/32', '2a02:1802:005e:0000:0000:0000:0000:0004/128'],
            endpoint: '[2a02:1802:5e::4]:3012',
          },
        ],
        mycelium: { hex_key: '9751C596C7C951AEDAD1A5F78F18B59515064ADF660E0D55ABEAD65E6FBBD627', peers: [] },
      }, { description: 'private net' }),
      wl('pip', 'ip', { v4: true, v6: true }),
      wl('data', 'zmount', { size: 10 * GIB }),
      wl('shared', 'volume', { size: 5 * GIB }),
      wl('vm', 'zmachine', {
        flist: 'https://hub.grid.tf/tf-official-apps/base:latest.flist',
        network: {
          public_ip: 'pip',
          planetary: true,
          mycelium: { Network: 'net1', hex_seed: 'A1B2C3d4e5f6' },
          interfaces: [{ network: 'net1', ip: '10.20.2.5' }],
        },
        size: 0,
        compute_capacity: { cpu: 2, memory: 4 * GIB },
        mounts: [
          { name: 'data', mountpoint: '/data' },
          { name: 'shared', mountpoint: '/mnt/shared' },
        ],
        entrypoint: '/sbin/zinit init',
        env: { SSH_KEY: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk user@host', A_FIRST: '1', 'Z-last': 'z=z' },
        corex: true,
      }, { metadata: '{"type":"vm","name":"vm"}' }),
      wl('vmlogs', 'zlogs', { zmachine: 'vm', output: 'wss://logs.example.com:9000/stream' }),
    ],
    { requests: [{ twin_id: 41, required: true, weight: 1 }], weight_required: 1 },
    { metadata: '{"version":3,"type":"vm","name":"myvm","projectName":"vm/myvm"}', description: 'my vm' },
  ),
});

// 2. zdb namespaces, sr25519 twin.
cases.push({
  name: 'zdb',
  about: 'two zdb namespaces (user, seq), one sr25519 twin, default style',
  signers: [{ twin: 7, type: 'sr25519' }],
  deployment: deployment(
    7,
    88,
    [
      wl('ns1', 'zdb', { size: 100 * GIB, mode: 'user', password: 'pa$$w0rd', public: true }),
      wl('ns2', 'zdb', { size: 1 * GIB, mode: 'seq', password: 'backup-pw', public: false }, { description: 'backups' }),
    ],
    { requests: [{ twin_id: 7, required: false, weight: 1 }], weight_required: 1 },
  ),
});

// 3. Gateways, polka-wallet style.
cases.push({
  name: 'gateways',
  about: 'gateway-name-proxy + gateway-fqdn-proxy with network, sr25519 twin, polka-wallet style',
  signers: [{ twin: 1042, type: 'sr25519' }],
  deployment: deployment(
    1042,
    555001,
    [
      wl('gwname', 'gateway-name-proxy', {
        name: 'myapp',
        tls_passthrough: false,
        backends: ['http://185.206.122.40:8080', 'http://[2a10:b600:1::a]'],
      }),
      wl('gwfqdn', 'gateway-fqdn-proxy', {
        fqdn: 'app.example.org',
        tls_passthrough: true,
        backends: ['10.20.2.5:443'],
        network: 'net1',
      }),
    ],
    { requests: [{ twin_id: 1042, required: true, weight: 1 }], weight_required: 1, signature_style: 'polka-wallet' },
  ),
});

// 4. qsfs with a VM, two signers (ed25519 owner, sr25519 co-signer) with weights.
const zdbBackend = (i) => ({ address: `[2a02:1802:5e::${i}]:9900`, namespace: `ns${i}`, password: `secret${i}` });
cases.push({
  name: 'qsfs_multisig',
  about: 'network + qsfs + zmachine mounting it; owner ed25519 + sr25519 co-signer, weights 1+2 >= 3',
  signers: [
    { twin: 300, type: 'ed25519' },
    { twin: 301, type: 'sr25519' },
  ],
  deployment: deployment(
    300,
    9000000001,
    [
      network('qnet', '10.20.5.0/24'),
      wl('qs', 'qsfs', {
        cache: 1 * GIB,
        config: {
          minimal_shards: 2,
          expected_shards: 4,
          redundant_groups: 0,
          redundant_nodes: 0,
          max_zdb_data_dir_size: 32,
          encryption: { algorithm: 'AES', key: '4D778BA3216E4DA4231540C92A55F06157EABA5C93FC9D5BB13A8B6B5BE2C58D' },
          meta: {
            type: 'zdb',
            config: {
              prefix: 'someprefix',
              encryption: { algorithm: 'AES', key: '4d778ba3216e4da4231540c92a55f06157eaba5c93fc9d5bb13a8b6b5be2c58d' },
              backends: [zdbBackend(1), zdbBackend(2), zdbBackend(3), zdbBackend(4)],
            },
          },
          groups: [{ backends: [zdbBackend(5), zdbBackend(6)] }, { backends: [zdbBackend(7), zdbBackend(8)] }],
          compression: { algorithm: 'snappy' },
        },
      }),
      wl('qvm', 'zmachine', {
        flist: 'https://hub.grid.tf/tf-official-apps/ubuntu-22.04.flist',
        network: { public_ip: '', planetary: false, interfaces: [{ network: 'qnet', ip: '10.20.5.2' }] },
        size: 20 * GIB,
        compute_capacity: { cpu: 8, memory: 16 * GIB },
        mounts: [{ name: 'qs', mountpoint: '/qsfs' }],
        entrypoint: '',
        env: {},
        corex: false,
        gpu: ['0000:28:00.0/1002/731f'],
      }),
    ],
    {
      requests: [
        { twin_id: 300, required: false, weight: 1 },
        { twin_id: 301, required: false, weight: 2 },
      ],
      weight_required: 3,
    },
    { description: 'qsfs with vm' },
  ),
});

// 5. Legacy ipv4 + small VM, an update (version 2) with an expiration and unicode text.
cases.push({
  name: 'ipv4_update',
  about: 'legacy ipv4 + zmachine at deployment version 2 with mixed workload versions, expiration, unicode',
  signers: [{ twin: 12, type: 'ed25519' }],
  deployment: deployment(
    12,
    4242,
    [
      network('n2', '10.20.6.0/24'),
      wl('pub4', 'ipv4', {}),
      wl('small', 'zmachine', {
        flist: 'https://hub.grid.tf/tf-official-apps/alpine-3.flist',
        network: { public_ip: 'pub4', planetary: false, interfaces: [{ network: 'n2', ip: '10.20.6.2' }] },
        size: 600 * MIB,
        compute_capacity: { cpu: 1, memory: 256 * MIB },
        mounts: [],
        entrypoint: '/bin/sh',
        env: { LANG: 'C.UTF-8' },
        corex: false,
      }, { version: 2, description: 'héllo wörld ✓' }),
      wl('disk', 'zmount', { size: 2 * GIB }, { version: 1 }),
    ],
    { requests: [{ twin_id: 12, required: true, weight: 5 }], weight_required: 5 },
    { version: 2, expiration: 1735689600, metadata: 'métadonnées' },
  ),
});

// ---- main -----------------------------------------------------------------------------------

async function main() {
  await cryptoWaitReady();
  fs.mkdirSync(OUT, { recursive: true });
  for (const c of cases) {
    const d = c.deployment;
    const challenge = deploymentChallenge(d);
    const md5 = crypto.createHash('md5').update(Buffer.from(challenge, 'utf8')).digest();
    const message =
      d.signature_requirement.signature_style === 'polka-wallet'
        ? stringToU8a(`<Bytes>${md5.toString('hex')}</Bytes>`)
        : new Uint8Array(md5);
    const keys = {};
    for (const s of c.signers) {
      const pair = keypair(`${c.name}/${s.twin}`, s.type);
      keys[s.twin] = { type: s.type, public_key: hex(pair.publicKey) };
      d.signature_requirement.signatures.push({
        twin_id: s.twin,
        signature: u8aToHex(sign(message, pair, s.type), -1, false),
        signature_type: s.type,
      });
    }
    const fixture = {
      about: c.about,
      generator: 'golden/generate.js (hand derivation from zos Go sources)',
      deployment: d,
      challenge,
      hash_hex: md5.toString('hex'),
      signing_message_hex: hex(message),
      keys,
      capacity: Object.fromEntries(d.workloads.map((w) => [w.name, capacity(w)])),
    };
    fs.writeFileSync(path.join(OUT, `${c.name}.json`), JSON.stringify(fixture, null, 2) + '\n');
    console.log(`${c.name}: ${fixture.hash_hex}`);
  }

  // Short names: NetworkID(twin, name) and WorkloadID.Unique(n): base58(md5(...))[:13].
  const short = (s) => base58Encode(crypto.createHash('md5').update(s).digest()).slice(0, 13);
  const ids = {
    network_id: [
      [41, 'net1'],
      [1, 'n'],
      [4294967295, 'a_very_long_network_name_of_36_chars'],
    ].map(([twin, name]) => ({ twin, name, expected: short(`${twin}:${name}`) })),
    unique: [
      ['41-1207-vm', 'net1'],
      ['41-1207-vm', 'ygg'],
      ['41-1207-pip', 'pub'],
    ].map(([id, n]) => ({ id, n, expected: short(`${id}:${n}`) })),
  };
  fs.writeFileSync(path.join(OUT, 'ids.json'), JSON.stringify(ids, null, 2) + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
