'use strict';
// The localnet server's test-only side: the localnet_* methods (mints,
// treasuries, airdrops, balances, the clock, prioritization fees) and the
// faults they arm for sendTransaction (fail, drop, execute without
// answering).

const wire = require('./wire');
const spl = require('./spl');
const { RpcError, HOLD, invalidParams, named, pubkeyParam, u64Param } = require('./rpc');
const { LITESVM_VERSION } = require('./methods');

const DEFAULT_DECIMALS = 8;
const DEFAULT_TREASURY_AMOUNT = 10_000_000n * 100_000_000n; // 10,000,000 RENDER at 8 decimals
const DEFAULT_TREASURY_LAMPORTS = 1_000_000n * 1_000_000_000n; // 1,000,000 SOL

// newFaults is the fault counters localnet_faults sets, each consumed by
// one send, in the order fail, drop, timeout.
function newFaults() {
  return { dropNextSends: 0, timeoutNextSends: 0, failNextSends: 0, timeoutDelayMs: 0, failError: null };
}

// sendUnderFaults is sendTransaction under the armed faults: a failed send
// answers an RPC error and executes nothing; a dropped one answers the
// signature and executes nothing; a timed-out one executes (run) and has
// its answer withheld (see HOLD). Otherwise it runs and answers.
function sendUnderFaults(st, signature, run) {
  if (st.faults.failNextSends > 0) {
    st.faults.failNextSends--;
    st.log(`fault: failing send of ${signature}`);
    const fe = st.faults.failError || { code: -32005, message: 'Node is unhealthy (localnet fault injection: failNextSends)' };
    throw new RpcError(fe.code, fe.message, fe.data);
  }
  if (st.faults.dropNextSends > 0) {
    st.faults.dropNextSends--;
    st.log(`fault: dropping ${signature}`);
    return signature;
  }
  let hold = null;
  if (st.faults.timeoutNextSends > 0) {
    st.faults.timeoutNextSends--;
    hold = st.faults.timeoutDelayMs > 0 ? st.faults.timeoutDelayMs : Infinity;
    st.log(`fault: executing ${signature} but withholding the answer`);
  }
  const outcome = run();
  if (hold !== null) return { [HOLD]: hold, outcome };
  if (outcome instanceof RpcError) throw outcome;
  return outcome;
}

// testMethods returns the localnet_* methods over the server's state st
// (see standardMethods), st.faults and st.prioFees included.
function testMethods(st) {
  return {
    localnet_info: () => ({
      rpc: st.defaults.rpc,
      mint: st.defaults.mint,
      treasury: st.defaults.treasury.address,
      treasuryTokenAccount: st.defaults.treasuryTokenAccount,
      slot: st.ledger.slot,
      blockHeight: st.ledger.blockHeight,
      latestBlockhash: { ...st.ledger.latestBlockhash },
      transactionCount: st.ledger.transactionCount,
      litesvm: LITESVM_VERSION,
    }),

    localnet_createMint: (params) => {
      const p = named(params) || {};
      const decimals = p.decimals === undefined ? DEFAULT_DECIMALS : Number(p.decimals);
      if (p.mintAuthority) pubkeyParam(p.mintAuthority, 'mintAuthority');
      if (p.freezeAuthority) pubkeyParam(p.freezeAuthority, 'freezeAuthority');
      const m = st.ledger.createMint({ decimals, mintAuthority: p.mintAuthority || null, freezeAuthority: p.freezeAuthority || null });
      return {
        mint: m.mint,
        decimals: m.decimals,
        mintAuthority: m.mintAuthority,
        mintAuthoritySecretKey: m.mintAuthorityKeypair ? Array.from(m.mintAuthorityKeypair.secretKey) : null,
      };
    },

    localnet_mintTo: (params) => {
      const p = named(params) || {};
      const mint = wire.b58encode(pubkeyParam(p.mint, 'mint'));
      const owner = wire.b58encode(pubkeyParam(p.owner, 'owner'));
      return st.ledger.mintTo(mint, owner, u64Param(p.amount ?? 0, 'amount'));
    },

    localnet_setupTreasury: (params) => {
      const p = named(params) || {};
      const mint = p.mint ? wire.b58encode(pubkeyParam(p.mint, 'mint')) : st.defaults.mint;
      const amount = u64Param(p.amount ?? DEFAULT_TREASURY_AMOUNT, 'amount');
      const lamports = u64Param(p.lamports ?? DEFAULT_TREASURY_LAMPORTS, 'lamports');
      const { treasury, tokenAccount } = st.ledger.setupTreasury(mint, amount, lamports);
      return { treasury: treasury.address, secretKey: Array.from(treasury.secretKey), tokenAccount, mint, amount: amount.toString() };
    },

    localnet_airdrop: (params) => {
      const p = Array.isArray(params) && typeof params[0] === 'string' ? { pubkey: params[0], lamports: params[1] } : named(params) || {};
      const pk = pubkeyParam(p.pubkey);
      return { lamports: st.ledger.airdrop(pk, u64Param(p.lamports, 'lamports')) };
    },

    localnet_advanceSlots: (params) => {
      const p = Array.isArray(params) && typeof params[0] !== 'object' ? { n: params[0] } : named(params) || {};
      const n = Number(p.n ?? 1);
      if (!Number.isSafeInteger(n) || n < 1) throw invalidParams(`Invalid param: n must be a positive integer, got ${JSON.stringify(p.n)}`);
      st.ledger.advance(n);
      return { slot: st.ledger.slot, blockHeight: st.ledger.blockHeight, ...st.ledger.latestBlockhash };
    },

    // {fees: [µlamports per CU, oldest slot first], accounts?: [addresses]}:
    // without accounts the fees apply to every query; with them, only to
    // queries naming one of them. {fees: []} clears; {} just reads.
    localnet_setPrioritizationFees: (params) => {
      const p = named(params) || {};
      if (p.fees !== undefined) {
        if (!Array.isArray(p.fees) || p.fees.length > 150) throw invalidParams('Invalid param: fees must be an array of at most 150 u64 (one per recent slot)');
        const fees = p.fees.map((f, i) => u64Param(f, `fees[${i}]`));
        if (p.accounts === undefined) {
          st.prioFees.global = fees;
        } else {
          if (!Array.isArray(p.accounts)) throw invalidParams('Invalid param: accounts must be an array of base58 addresses');
          for (const a of p.accounts) st.prioFees.byAccount.set(wire.b58encode(pubkeyParam(a, 'account')), fees);
        }
      }
      return {
        global: st.prioFees.global.map(String),
        accounts: Object.fromEntries([...st.prioFees.byAccount].map(([k, v]) => [k, v.map(String)])),
      };
    },

    localnet_faults: (params) => {
      const p = named(params) || {};
      for (const k of ['dropNextSends', 'timeoutNextSends', 'failNextSends', 'timeoutDelayMs']) {
        if (p[k] === undefined) continue;
        const n = Number(p[k]);
        if (!Number.isSafeInteger(n) || n < 0) throw invalidParams(`Invalid param: ${k} must be a non-negative integer`);
        st.faults[k] = n;
      }
      if (p.failError !== undefined) {
        if (p.failError !== null && (typeof p.failError.code !== 'number' || typeof p.failError.message !== 'string')) {
          throw invalidParams('Invalid param: failError must be {code: number, message: string} or null');
        }
        st.faults.failError = p.failError;
      }
      return { ...st.faults };
    },

    localnet_getTokenBalance: (params) => {
      const p = Array.isArray(params) && typeof params[0] === 'string' ? { owner: params[0], mint: params[1] } : named(params) || {};
      const owner = pubkeyParam(p.owner, 'owner');
      const mintKey = pubkeyParam(p.mint || st.defaults.mint, 'mint');
      const ata = spl.associatedTokenAddress(owner, mintKey);
      const acct = st.ledger.account(ata);
      const ta = acct ? spl.decodeTokenAccount(acct.data()) : null;
      const mint = st.ledger.mintInfo(mintKey);
      return {
        tokenAccount: wire.b58encode(ata),
        exists: !!ta,
        amount: (ta ? ta.amount : 0n).toString(),
        decimals: mint ? mint.decimals : null,
      };
    },
  };
}

module.exports = { testMethods, sendUnderFaults, newFaults, DEFAULT_DECIMALS, DEFAULT_TREASURY_AMOUNT, DEFAULT_TREASURY_LAMPORTS };
