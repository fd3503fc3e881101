'use strict';
// The localnet server's JSON-RPC 2.0 transport: HTTP, single and batch
// requests, error bodies, BigInt-faithful JSON, and the decoding of
// parameters (addresses, u64s, encoded transactions) into what the methods
// take, with a real node's error codes and texts. The methods themselves
// are in methods.js (standard) and testing.js (localnet_*).

const crypto = require('node:crypto');
const wire = require('./wire');

const TX_TYPE = 'solana_transaction::versioned::VersionedTransaction';
const MAX_BASE58_SIZE = 1683;
const MAX_BASE64_SIZE = 1644;

class RpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

const invalidParams = (msg) => new RpcError(-32602, msg);

// BigInts (u64 lamports, rent epochs) are written as bare JSON integers, as Rust nodes do.
const BIG_TAG = `__bigint_${crypto.randomBytes(6).toString('hex')}_`;
const BIG_RE = new RegExp(`"${BIG_TAG}(-?\\d+)"`, 'g');
function stringify(v) {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${BIG_TAG}${x}` : x)).replace(BIG_RE, '$1');
}

function configOf(params, i) {
  const c = Array.isArray(params) ? params[i] : undefined;
  return c && typeof c === 'object' ? c : {};
}

function arg(params, i, what) {
  if (!Array.isArray(params) || params[i] === undefined) throw invalidParams(`missing parameter ${i} (${what})`);
  return params[i];
}

// named accepts {..} or [{..}] for the localnet_* methods.
function named(params) {
  if (Array.isArray(params)) return params.length === 1 && params[0] && typeof params[0] === 'object' ? params[0] : null;
  return params && typeof params === 'object' ? params : {};
}

function pubkeyParam(s, what = 'pubkey') {
  try {
    return wire.pubkey(String(s));
  } catch {
    throw invalidParams(`Invalid param: Invalid ${what} ${JSON.stringify(s)}`);
  }
}

function u64Param(v, what) {
  try {
    const n = BigInt(v);
    if (n < 0n || n >= 1n << 64n) throw new Error();
    return n;
  } catch {
    throw invalidParams(`Invalid param: ${what} must be a u64, got ${JSON.stringify(v)}`);
  }
}

// decodeTransaction decodes sendTransaction's and simulateTransaction's
// parameter with the size limits a node applies before deserializing.
function decodeTransaction(encoded, encoding) {
  if (typeof encoded !== 'string') throw invalidParams('Invalid params: transaction must be an encoded string');
  const enc = encoding || 'base58';
  let bytes;
  if (enc === 'base58') {
    if (encoded.length > MAX_BASE58_SIZE) {
      throw invalidParams(`base58 encoded ${TX_TYPE} too large: ${encoded.length} bytes (max: encoded/raw ${MAX_BASE58_SIZE}/${wire.PACKET_DATA_SIZE})`);
    }
    try {
      bytes = wire.b58decode(encoded);
    } catch (e) {
      throw invalidParams(`invalid base58 encoding: ${e.message}`);
    }
  } else if (enc === 'base64') {
    if (encoded.length > MAX_BASE64_SIZE) {
      throw invalidParams(`base64 encoded ${TX_TYPE} too large: ${encoded.length} bytes (max: encoded/raw ${MAX_BASE64_SIZE}/${wire.PACKET_DATA_SIZE})`);
    }
    if (encoded.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) throw invalidParams('invalid base64 encoding: InvalidByte');
    bytes = new Uint8Array(Buffer.from(encoded, 'base64'));
  } else {
    throw invalidParams(`unsupported encoding: ${enc}. Supported encodings: base58, base64`);
  }
  if (bytes.length > wire.PACKET_DATA_SIZE) {
    throw invalidParams(`decoded ${TX_TYPE} too large: ${bytes.length} bytes (max: ${wire.PACKET_DATA_SIZE} bytes)`);
  }
  try {
    return wire.parseTransaction(bytes);
  } catch (e) {
    throw invalidParams(`failed to deserialize ${TX_TYPE}: ${e.message}`);
  }
}

// HOLD marks an answer the transport withholds: a method returning
// { [HOLD]: ms, outcome } has its response sent after ms (never when
// Infinity), as a node that executed a transaction and did not answer.
const HOLD = Symbol('hold');

function handleOne(methods, req) {
  if (!req || typeof req !== 'object' || Array.isArray(req) || req.jsonrpc !== '2.0' || typeof req.method !== 'string') {
    return { jsonrpc: '2.0', error: { code: -32600, message: 'Invalid request' }, id: req && req.id !== undefined ? req.id : null };
  }
  const fn = Object.prototype.hasOwnProperty.call(methods, req.method) ? methods[req.method] : null;
  if (!fn) return { jsonrpc: '2.0', error: { code: -32601, message: 'Method not found' }, id: req.id ?? null };
  try {
    const result = fn(req.params === undefined ? [] : req.params);
    if (result && typeof result === 'object' && result[HOLD] !== undefined) {
      const o = result.outcome;
      const answer = o instanceof RpcError ? errorBody(o, req.id) : { jsonrpc: '2.0', result: o, id: req.id ?? null };
      return { [HOLD]: result[HOLD], answer };
    }
    return { jsonrpc: '2.0', result: result === undefined ? null : result, id: req.id ?? null };
  } catch (e) {
    if (e instanceof RpcError) return errorBody(e, req.id);
    if (e instanceof wire.ParamError) return errorBody(invalidParams(e.message), req.id);
    process.stderr.write(`localnet: ${req.method}: ${e.stack || e}\n`);
    return { jsonrpc: '2.0', error: { code: -32603, message: `Internal error: ${e.message}` }, id: req.id ?? null };
  }
}

function errorBody(e, id) {
  const error = { code: e.code, message: e.message };
  if (e.data !== undefined) error.data = e.data;
  return { jsonrpc: '2.0', error, id: id ?? null };
}

function respond(res, status, body) {
  const text = typeof body === 'string' ? body : stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

// serveWith returns the HTTP handler answering methods: POST JSON-RPC 2.0
// (one request or a batch), GET /health. held collects the responses a
// method withheld (see HOLD), so a stopping server can drop them.
function serveWith(methods, held) {
  return function serve(req, res) {
    if (req.method === 'GET' && req.url === '/health') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
      return;
    }
    if (req.method !== 'POST') {
      respond(res, 405, { jsonrpc: '2.0', error: { code: -32600, message: 'Invalid request: use POST' }, id: null });
      return;
    }
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 8 << 20) {
        respond(res, 413, { jsonrpc: '2.0', error: { code: -32600, message: 'request too large' }, id: null });
        req.destroy();
      } else {
        chunks.push(c);
      }
    });
    req.on('end', () => {
      if (res.writableEnded) return;
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        respond(res, 200, { jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null });
        return;
      }
      let out;
      let hold = null;
      const unwrap = (r) => {
        if (r && r[HOLD] !== undefined) {
          hold = hold === null ? r[HOLD] : Math.max(hold, r[HOLD]);
          return r.answer;
        }
        return r;
      };
      if (Array.isArray(body)) {
        out = body.length === 0 ? { jsonrpc: '2.0', error: { code: -32600, message: 'Invalid request' }, id: null } : body.map((r) => unwrap(handleOne(methods, r)));
      } else {
        out = unwrap(handleOne(methods, body));
      }
      if (hold === null) {
        respond(res, 200, out);
        return;
      }
      held.add(res);
      res.on('close', () => held.delete(res));
      if (Number.isFinite(hold)) {
        setTimeout(() => {
          held.delete(res);
          if (!res.destroyed && !res.writableEnded) respond(res, 200, out);
        }, hold).unref();
      }
    });
  };
}

module.exports = { RpcError, invalidParams, HOLD, stringify, configOf, arg, named, pubkeyParam, u64Param, decodeTransaction, serveWith };
