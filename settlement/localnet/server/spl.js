'use strict';
// Program ids, the few instructions the server itself sends (to set up mints
// and treasuries through the real programs), and SPL Token account decoding.

const { pubkey, b58encode, findProgramAddress } = require('./wire');

const SYSTEM_PROGRAM = pubkey('11111111111111111111111111111111');
const TOKEN_PROGRAM = pubkey('TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA');
const TOKEN_2022_PROGRAM = pubkey('TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb');
const ATA_PROGRAM = pubkey('ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL');
const MEMO_PROGRAM = pubkey('MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr');
const COMPUTE_BUDGET_PROGRAM = pubkey('ComputeBudget111111111111111111111111111111');

const MINT_SIZE = 82;
const TOKEN_ACCOUNT_SIZE = 165;

function u64le(n) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

function u32le(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function associatedTokenAddress(owner, mint, tokenProgram = TOKEN_PROGRAM) {
  return findProgramAddress([owner, tokenProgram, mint], ATA_PROGRAM)[0];
}

function createAccountIx(from, newAccount, lamports, space, owner) {
  return {
    programId: SYSTEM_PROGRAM,
    keys: [
      { pubkey: from, isSigner: true, isWritable: true },
      { pubkey: newAccount, isSigner: true, isWritable: true },
    ],
    data: Buffer.concat([u32le(0), u64le(lamports), u64le(space), Buffer.from(owner)]),
  };
}

function initializeMint2Ix(mint, decimals, mintAuthority, freezeAuthority) {
  const freeze = freezeAuthority ? Buffer.concat([Buffer.from([1]), Buffer.from(freezeAuthority)]) : Buffer.alloc(33);
  return {
    programId: TOKEN_PROGRAM,
    keys: [{ pubkey: mint, isSigner: false, isWritable: true }],
    data: Buffer.concat([Buffer.from([20, decimals]), Buffer.from(mintAuthority), freeze]),
  };
}

// createAtaIdempotentIx: instruction data [1] = CreateIdempotent.
function createAtaIdempotentIx(payer, owner, mint) {
  const ata = associatedTokenAddress(owner, mint);
  return {
    programId: ATA_PROGRAM,
    keys: [
      { pubkey: payer, isSigner: true, isWritable: true },
      { pubkey: ata, isSigner: false, isWritable: true },
      { pubkey: owner, isSigner: false, isWritable: false },
      { pubkey: mint, isSigner: false, isWritable: false },
      { pubkey: SYSTEM_PROGRAM, isSigner: false, isWritable: false },
      { pubkey: TOKEN_PROGRAM, isSigner: false, isWritable: false },
    ],
    data: Buffer.from([1]),
  };
}

function mintToIx(mint, destination, authority, amount) {
  return {
    programId: TOKEN_PROGRAM,
    keys: [
      { pubkey: mint, isSigner: false, isWritable: true },
      { pubkey: destination, isSigner: false, isWritable: true },
      { pubkey: authority, isSigner: true, isWritable: false },
    ],
    data: Buffer.concat([Buffer.from([7]), u64le(amount)]),
  };
}

function isTokenProgram(owner) {
  const o = b58encode(owner);
  return o === b58encode(TOKEN_PROGRAM) || o === b58encode(TOKEN_2022_PROGRAM);
}

// decodeMint reads the base Mint layout (SPL Token and the first 82 bytes of Token-2022).
function decodeMint(data) {
  // Token-2022 mints with extensions are padded to 165 bytes and tagged 1 at offset 165.
  if (data.length !== MINT_SIZE && !(data.length > TOKEN_ACCOUNT_SIZE && data[TOKEN_ACCOUNT_SIZE] === 1)) return null;
  const b = Buffer.from(data);
  const isInitialized = b[45] === 1;
  if (!isInitialized) return null;
  return {
    mintAuthority: b.readUInt32LE(0) === 1 ? b58encode(b.subarray(4, 36)) : null,
    supply: b.readBigUInt64LE(36),
    decimals: b[44],
    isInitialized,
    freezeAuthority: b.readUInt32LE(46) === 1 ? b58encode(b.subarray(50, 82)) : null,
  };
}

const ACCOUNT_STATES = ['uninitialized', 'initialized', 'frozen'];

// decodeTokenAccount reads the base Account layout.
function decodeTokenAccount(data) {
  // Token-2022 accounts with extensions are tagged 2 at offset 165.
  if (data.length < TOKEN_ACCOUNT_SIZE || (data.length > TOKEN_ACCOUNT_SIZE && data[TOKEN_ACCOUNT_SIZE] !== 2)) return null;
  const b = Buffer.from(data);
  const state = b[108];
  if (state === 0 || state > 2) return null;
  return {
    mint: b58encode(b.subarray(0, 32)),
    owner: b58encode(b.subarray(32, 64)),
    amount: b.readBigUInt64LE(64),
    delegate: b.readUInt32LE(72) === 1 ? b58encode(b.subarray(76, 108)) : null,
    state: ACCOUNT_STATES[state],
    isNative: b.readUInt32LE(109) === 1,
    delegatedAmount: b.readBigUInt64LE(121),
    closeAuthority: b.readUInt32LE(129) === 1 ? b58encode(b.subarray(133, 165)) : null,
  };
}

// uiAmount follows the RPC's UiTokenAmount: amount as a string, uiAmountString
// as the exact decimal without trailing zeros, uiAmount as a float.
function uiTokenAmount(amount, decimals) {
  const s = amount.toString();
  let uiAmountString = s;
  if (decimals > 0) {
    const padded = s.padStart(decimals + 1, '0');
    const whole = padded.slice(0, padded.length - decimals);
    const frac = padded.slice(padded.length - decimals).replace(/0+$/, '');
    uiAmountString = frac ? `${whole}.${frac}` : whole;
  }
  return { amount: s, decimals, uiAmount: Number(uiAmountString), uiAmountString };
}

module.exports = {
  SYSTEM_PROGRAM,
  TOKEN_PROGRAM,
  TOKEN_2022_PROGRAM,
  ATA_PROGRAM,
  MEMO_PROGRAM,
  COMPUTE_BUDGET_PROGRAM,
  MINT_SIZE,
  TOKEN_ACCOUNT_SIZE,
  associatedTokenAddress,
  createAccountIx,
  initializeMint2Ix,
  createAtaIdempotentIx,
  mintToIx,
  isTokenProgram,
  decodeMint,
  decodeTokenAccount,
  uiTokenAmount,
};
