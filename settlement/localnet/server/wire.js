'use strict';
// Wire-level helpers with no dependency beyond Node's standard library:
// base58, Ed25519 keys and signatures, program-derived addresses, the
// Solana transaction wire format (legacy and v0 messages), and the JSON
// encodings of accounts and transactions in RPC answers.

const crypto = require('node:crypto');

// PACKET_DATA_SIZE: the largest transaction a Solana node accepts on the wire.
const PACKET_DATA_SIZE = 1232;

// ---------------------------------------------------------------- base58

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const B58_MAP = new Map([...B58].map((c, i) => [c, i]));

function b58encode(bytes) {
  bytes = Uint8Array.from(bytes);
  let zeros = 0;
  while (zeros < bytes.length && bytes[zeros] === 0) zeros++;
  const digits = [];
  for (let i = zeros; i < bytes.length; i++) {
    let carry = bytes[i];
    for (let j = 0; j < digits.length; j++) {
      carry += digits[j] << 8;
      digits[j] = carry % 58;
      carry = (carry / 58) | 0;
    }
    while (carry > 0) {
      digits.push(carry % 58);
      carry = (carry / 58) | 0;
    }
  }
  let out = '1'.repeat(zeros);
  for (let i = digits.length - 1; i >= 0; i--) out += B58[digits[i]];
  return out;
}

function b58decode(str) {
  if (typeof str !== 'string') throw new Error('base58: not a string');
  let zeros = 0;
  while (zeros < str.length && str[zeros] === '1') zeros++;
  const bytes = [];
  for (let i = zeros; i < str.length; i++) {
    const v = B58_MAP.get(str[i]);
    if (v === undefined) throw new Error(`base58: invalid character ${JSON.stringify(str[i])}`);
    let carry = v;
    for (let j = 0; j < bytes.length; j++) {
      carry += bytes[j] * 58;
      bytes[j] = carry & 0xff;
      carry >>= 8;
    }
    while (carry > 0) {
      bytes.push(carry & 0xff);
      carry >>= 8;
    }
  }
  const out = new Uint8Array(zeros + bytes.length);
  for (let i = 0; i < bytes.length; i++) out[zeros + i] = bytes[bytes.length - 1 - i];
  return out;
}

// pubkey decodes a base58 address and insists on 32 bytes.
function pubkey(str) {
  const b = b58decode(str);
  if (b.length !== 32) throw new Error(`invalid public key ${JSON.stringify(str)}: ${b.length} bytes, want 32`);
  return b;
}

// ---------------------------------------------------------------- Ed25519

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

// Keypair holds a 64-byte Solana secret key (seed || public key).
class Keypair {
  constructor(secret) {
    if (secret.length !== 64) throw new Error(`keypair: secret key is ${secret.length} bytes, want 64`);
    this.secretKey = Uint8Array.from(secret);
    this.publicKey = this.secretKey.slice(32);
    this.address = b58encode(this.publicKey);
    this._key = crypto.createPrivateKey({
      key: Buffer.concat([PKCS8_PREFIX, Buffer.from(this.secretKey.slice(0, 32))]),
      format: 'der',
      type: 'pkcs8',
    });
  }

  static generate() {
    const seed = crypto.randomBytes(32);
    const key = crypto.createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    const pub = Buffer.from(crypto.createPublicKey(key).export({ format: 'jwk' }).x, 'base64url');
    return new Keypair(Buffer.concat([seed, pub]));
  }

  sign(message) {
    return new Uint8Array(crypto.sign(null, Buffer.from(message), this._key));
  }
}

function verify(publicKey, message, signature) {
  try {
    const key = crypto.createPublicKey({ key: Buffer.concat([SPKI_PREFIX, Buffer.from(publicKey)]), format: 'der', type: 'spki' });
    return crypto.verify(null, Buffer.from(message), key, Buffer.from(signature));
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- PDAs

const P = (1n << 255n) - 19n;
const D = (P - 121665n) * modpow(121666n, P - 2n, P) % P;

function modpow(b, e, m) {
  let r = 1n;
  b %= m;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}

// isOnCurve mirrors curve25519-dalek's CompressedEdwardsY::decompress().is_some():
// the y coordinate (sign bit ignored) is on the curve iff (y²-1)/(d·y²+1) is a square.
function isOnCurve(bytes) {
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(bytes[i]);
  y &= (1n << 255n) - 1n;
  y %= P;
  const y2 = (y * y) % P;
  const u = (y2 - 1n + P) % P;
  const v = (D * y2 + 1n) % P;
  const w = (u * modpow(v, P - 2n, P)) % P;
  return w === 0n || modpow(w, (P - 1n) / 2n, P) === 1n;
}

function findProgramAddress(seeds, programId) {
  for (let bump = 255; bump >= 0; bump--) {
    const h = crypto.createHash('sha256');
    for (const s of seeds) h.update(Buffer.from(s));
    h.update(Buffer.from([bump]));
    h.update(Buffer.from(programId));
    h.update(Buffer.from('ProgramDerivedAddress'));
    const candidate = new Uint8Array(h.digest());
    if (!isOnCurve(candidate)) return [candidate, bump];
  }
  throw new Error('no viable program address bump');
}

// ---------------------------------------------------------------- wire format

function encodeCompactU16(n) {
  const out = [];
  for (;;) {
    let b = n & 0x7f;
    n >>= 7;
    if (n === 0) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

class Reader {
  constructor(buf) {
    this.buf = buf;
    this.off = 0;
  }
  need(n, what) {
    if (this.off + n > this.buf.length) throw new Error(`unexpected end of input reading ${what}`);
  }
  u8(what) {
    this.need(1, what);
    return this.buf[this.off++];
  }
  bytes(n, what) {
    this.need(n, what);
    const b = this.buf.slice(this.off, this.off + n);
    this.off += n;
    return b;
  }
  compactU16(what) {
    let v = 0;
    for (let i = 0; i < 3; i++) {
      const b = this.u8(what);
      v |= (b & 0x7f) << (7 * i);
      if ((b & 0x80) === 0) return v;
    }
    throw new Error(`invalid compact-u16 for ${what}`);
  }
}

// parseTransaction decodes a wire transaction. It throws on malformed input.
// The result keeps byte offsets so callers can patch the blockhash in place.
function parseTransaction(wire) {
  wire = Uint8Array.from(wire);
  const r = new Reader(wire);
  const nsig = r.compactU16('signature count');
  const signatures = [];
  for (let i = 0; i < nsig; i++) signatures.push(r.bytes(64, 'signature'));
  const messageOffset = r.off;
  const message = parseMessage(r);
  if (r.off !== wire.length) throw new Error(`${wire.length - r.off} trailing bytes after the message`);
  if (message.header.numRequiredSignatures !== nsig) {
    throw new Error(`message wants ${message.header.numRequiredSignatures} signatures, transaction has ${nsig}`);
  }
  return {
    signatures,
    message,
    messageBytes: wire.slice(messageOffset),
    messageOffset,
    wire,
  };
}

function parseMessage(r) {
  const start = r.off;
  let version = 'legacy';
  let first = r.u8('message header');
  if (first & 0x80) {
    version = first & 0x7f;
    if (version !== 0) throw new Error(`unsupported message version ${version}`);
    first = r.u8('message header');
  }
  const header = {
    numRequiredSignatures: first,
    numReadonlySignedAccounts: r.u8('message header'),
    numReadonlyUnsignedAccounts: r.u8('message header'),
  };
  const nkeys = r.compactU16('account key count');
  const accountKeys = [];
  for (let i = 0; i < nkeys; i++) accountKeys.push(r.bytes(32, 'account key'));
  const recentBlockhashOffset = r.off - start;
  const recentBlockhash = r.bytes(32, 'recent blockhash');
  const nix = r.compactU16('instruction count');
  const instructions = [];
  for (let i = 0; i < nix; i++) {
    const programIdIndex = r.u8('program id index');
    const nacc = r.compactU16('instruction account count');
    const accounts = Array.from(r.bytes(nacc, 'instruction accounts'));
    const ndata = r.compactU16('instruction data length');
    const data = r.bytes(ndata, 'instruction data');
    instructions.push({ programIdIndex, accounts, data });
  }
  const addressTableLookups = [];
  if (version !== 'legacy') {
    const nl = r.compactU16('address table lookup count');
    for (let i = 0; i < nl; i++) {
      const accountKey = r.bytes(32, 'lookup table');
      const nw = r.compactU16('writable indexes');
      const writableIndexes = Array.from(r.bytes(nw, 'writable indexes'));
      const nr = r.compactU16('readonly indexes');
      const readonlyIndexes = Array.from(r.bytes(nr, 'readonly indexes'));
      addressTableLookups.push({ accountKey, writableIndexes, readonlyIndexes });
    }
  }
  if (header.numRequiredSignatures > nkeys || header.numRequiredSignatures === 0) {
    throw new Error('invalid message header: required signatures out of range');
  }
  for (const ix of instructions) {
    if (ix.programIdIndex >= nkeys) throw new Error('instruction program id index out of range');
  }
  return { version, header, accountKeys, recentBlockhash, recentBlockhashOffset, instructions, addressTableLookups };
}

// isWritable reports whether the static account key at index i is writable.
function isWritable(message, i) {
  const h = message.header;
  const n = message.accountKeys.length;
  if (i < h.numRequiredSignatures) return i < h.numRequiredSignatures - h.numReadonlySignedAccounts;
  return i < n - h.numReadonlyUnsignedAccounts;
}

// compileLegacy builds and signs a legacy transaction.
// instructions: [{programId: Uint8Array, keys: [{pubkey, isSigner, isWritable}], data: Uint8Array}]
function compileLegacy(payer, signers, instructions, blockhash) {
  const metas = new Map();
  const add = (pk, signer, writable) => {
    const k = b58encode(pk);
    const m = metas.get(k);
    if (m) {
      m.isSigner ||= signer;
      m.isWritable ||= writable;
    } else {
      metas.set(k, { pubkey: pk, isSigner: signer, isWritable: writable, order: metas.size });
    }
  };
  add(payer.publicKey, true, true);
  for (const ix of instructions) {
    for (const k of ix.keys) add(k.pubkey, k.isSigner, k.isWritable);
    add(ix.programId, false, false);
  }
  const rank = (m) => (m.isSigner ? (m.isWritable ? 0 : 1) : m.isWritable ? 2 : 3);
  const keys = [...metas.values()].sort((a, b) => rank(a) - rank(b) || a.order - b.order);
  const index = new Map(keys.map((m, i) => [b58encode(m.pubkey), i]));
  const numSigners = keys.filter((m) => m.isSigner).length;
  const header = [
    numSigners,
    keys.filter((m) => m.isSigner && !m.isWritable).length,
    keys.filter((m) => !m.isSigner && !m.isWritable).length,
  ];
  const msg = [...header, ...encodeCompactU16(keys.length)];
  for (const m of keys) msg.push(...m.pubkey);
  msg.push(...(typeof blockhash === 'string' ? pubkey(blockhash) : blockhash));
  msg.push(...encodeCompactU16(instructions.length));
  for (const ix of instructions) {
    msg.push(index.get(b58encode(ix.programId)));
    msg.push(...encodeCompactU16(ix.keys.length));
    for (const k of ix.keys) msg.push(index.get(b58encode(k.pubkey)));
    msg.push(...encodeCompactU16(ix.data.length));
    msg.push(...ix.data);
  }
  const message = Uint8Array.from(msg);
  const bySigner = new Map(signers.map((s) => [s.address, s]));
  const sigs = [];
  for (const m of keys.slice(0, numSigners)) {
    const s = bySigner.get(b58encode(m.pubkey));
    if (!s) throw new Error(`missing signer ${b58encode(m.pubkey)}`);
    sigs.push(...s.sign(message));
  }
  return Uint8Array.from([...encodeCompactU16(numSigners), ...sigs, ...message]);
}

// parseMessageBytes decodes a bare message (as getFeeForMessage receives it).
function parseMessageBytes(bytes) {
  const r = new Reader(Uint8Array.from(bytes));
  const message = parseMessage(r);
  if (r.off !== bytes.length) throw new Error(`${bytes.length - r.off} trailing bytes after the message`);
  return message;
}

// ---------------------------------------------------------------- JSON-RPC answers
// How accounts, transactions and their statuses are written in answers,
// in the shapes of a real node (solana-account-decoder, the transaction
// status encoders).

// ParamError is a request an encoder cannot answer (an encoding it does
// not support); the transport answers it as invalid params (-32602).
class ParamError extends Error {}

// encodeAccount writes an account as getAccountInfo does in config's
// encoding; mintInfo(mint) gives a mint's decimals for jsonParsed token
// accounts.
function encodeAccount(acct, config, mintInfo) {
  const encoding = config.encoding || 'binary';
  let data = acct.data();
  const owner = b58encode(acct.owner());
  const base = { executable: acct.executable(), lamports: acct.lamports(), owner, rentEpoch: acct.rentEpoch(), space: data.length };
  if (encoding === 'jsonParsed') {
    const parsed = parseAccountData(acct, mintInfo);
    if (parsed) return { ...base, data: parsed };
  }
  if (config.dataSlice) {
    const { offset = 0, length = data.length } = config.dataSlice;
    data = data.slice(offset, offset + length);
  }
  switch (encoding) {
    case 'binary':
      return { ...base, data: b58encode(data) };
    case 'base58':
      return { ...base, data: [b58encode(data), 'base58'] };
    case 'base64':
    case 'jsonParsed':
      return { ...base, data: [Buffer.from(data).toString('base64'), 'base64'] };
    default:
      throw new ParamError(`unsupported encoding: ${encoding}. Supported encodings: base58, base64, jsonParsed (base64+zstd is not supported by localnet)`);
  }
}

function parseAccountData(acct, mintInfo) {
  // Required here, not at the top: spl.js and ledger.js build on this file.
  const spl = require('./spl');
  const { ALT_PROGRAM, decodeLookupTable } = require('./ledger');
  if (Buffer.from(acct.owner()).equals(Buffer.from(ALT_PROGRAM))) {
    // The shape of solana-account-decoder's parse_address_lookup_table.
    const t = decodeLookupTable(acct.data());
    if (!t) return null;
    return {
      program: 'address-lookup-table',
      parsed: {
        type: 'lookupTable',
        info: {
          deactivationSlot: t.deactivationSlot.toString(),
          lastExtendedSlot: t.lastExtendedSlot.toString(),
          lastExtendedSlotStartIndex: t.lastExtendedSlotStartIndex,
          ...(t.authority ? { authority: t.authority } : {}),
          addresses: t.addresses.map(b58encode),
        },
      },
      space: acct.data().length,
    };
  }
  if (!spl.isTokenProgram(acct.owner())) return null;
  const data = acct.data();
  const program = b58encode(acct.owner()) === b58encode(spl.TOKEN_PROGRAM) ? 'spl-token' : 'spl-token-2022';
  const mint = spl.decodeMint(data);
  if (mint) {
    return {
      program,
      parsed: {
        type: 'mint',
        info: {
          decimals: mint.decimals,
          freezeAuthority: mint.freezeAuthority,
          isInitialized: true,
          mintAuthority: mint.mintAuthority,
          supply: mint.supply.toString(),
        },
      },
      space: data.length,
    };
  }
  const ta = spl.decodeTokenAccount(data);
  if (ta) {
    const m = mintInfo(ta.mint);
    const decimals = m ? m.decimals : 0;
    const info = {
      isNative: ta.isNative,
      mint: ta.mint,
      owner: ta.owner,
      state: ta.state,
      tokenAmount: spl.uiTokenAmount(ta.amount, decimals),
    };
    if (ta.delegate) {
      info.delegate = ta.delegate;
      info.delegatedAmount = spl.uiTokenAmount(ta.delegatedAmount, decimals);
    }
    if (ta.closeAuthority) info.closeAuthority = ta.closeAuthority;
    return { program, parsed: { type: 'account', info }, space: data.length };
  }
  return null;
}

function encodeTransaction(record, encoding) {
  const tx = record.tx;
  switch (encoding) {
    case 'base64':
      return [Buffer.from(tx.wire).toString('base64'), 'base64'];
    case 'base58':
      return [b58encode(tx.wire), 'base58'];
    case 'json': {
      const m = tx.message;
      const message = {
        accountKeys: m.accountKeys.map(b58encode),
        header: m.header,
        instructions: m.instructions.map((ix) => ({
          accounts: ix.accounts,
          data: b58encode(ix.data),
          programIdIndex: ix.programIdIndex,
          stackHeight: null,
        })),
        recentBlockhash: b58encode(m.recentBlockhash),
      };
      if (m.version !== 'legacy') {
        message.addressTableLookups = m.addressTableLookups.map((l) => ({
          accountKey: b58encode(l.accountKey),
          readonlyIndexes: l.readonlyIndexes,
          writableIndexes: l.writableIndexes,
        }));
      }
      return { message, signatures: tx.signatures.map(b58encode) };
    }
    default:
      throw new ParamError(`unsupported encoding: ${encoding}. localnet's getTransaction supports json, base64 and base58`);
  }
}

function status(record) {
  return {
    slot: record.slot,
    confirmations: null,
    err: record.err ? record.err.json : null,
    status: record.err ? { Err: record.err.json } : { Ok: null },
    confirmationStatus: 'finalized',
  };
}

function memoText(record) {
  const spl = require('./spl');
  const m = record.tx.message;
  const memos = [];
  for (const ix of m.instructions) {
    const pid = b58encode(m.accountKeys[ix.programIdIndex]);
    if (pid === b58encode(spl.MEMO_PROGRAM) || pid === 'Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo') {
      memos.push(`[${ix.data.length}] ${Buffer.from(ix.data).toString('utf8')}`);
    }
  }
  return memos.length ? memos.join('; ') : null;
}

module.exports = {
  PACKET_DATA_SIZE,
  parseMessageBytes,
  b58encode,
  b58decode,
  pubkey,
  Keypair,
  verify,
  isOnCurve,
  findProgramAddress,
  encodeCompactU16,
  parseTransaction,
  isWritable,
  compileLegacy,
  ParamError,
  encodeAccount,
  encodeTransaction,
  status,
  memoText,
};
