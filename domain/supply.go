package domain

// MaxSupply is the default total-supply cap of RENDER, in base units:
// 644,168,762 RENDER, Render's published maximum supply (RNP-001's BME
// raised the cap of 536,870,912 RNDR by the 107,297,850 held for
// emissions; CoinGecko and the foundation list 644,168,762 as the max
// supply of the Solana RENDER mint). The emissions of all epochs together
// may not exceed the cap in force (configuration: --supply-cap), which
// also keeps every sum of base units (balances, supply, plans) far below
// 2^64.
const MaxSupply BaseUnits = 644_168_762 * BaseUnitsPerRender
