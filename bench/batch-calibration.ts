// A candidate sim-calibration.json that sets γ and κ for one batch size only: the per-profile fields
// (profileInterference.gamma, profileCoresidency.kappa) for every profile file of the directory at that batch, the
// rest of the calibration copied as it is. A profile already named there keeps its own value (with a warning), so the
// shipped per-profile choices are not overwritten silently. Writes the file (or stdout with no --out).
//   node --import tsx bench/batch-calibration.ts --profiles profiles/h100 --batch 8 --gamma G --kappa K \
//     [--calibration FILE] [--date D] [--method TEXT] [--notes TEXT] [--out FILE]

import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { readFile, type SimCalibration } from '../src/formats/index.ts'

/** The profile keys (file names without .json) of `dir` at batch `batch`. */
export function profileKeysAt(dir: string, batch: number): string[] {
  const re = new RegExp(`^[A-Za-z0-9_-]+\\.b${batch}\\.[a-z0-9]+\\.json$`)
  return readdirSync(dir)
    .filter((f) => re.test(f))
    .map((f) => f.replace(/\.json$/, ''))
    .sort()
}

/** `cal` with γ `gamma` and κ `kappa` for each of `keys` (a key it already names keeps its value). */
export function withBatchConstants(
  cal: SimCalibration,
  keys: readonly string[],
  gamma: number,
  kappa: number,
  measured: SimCalibration['measured'],
): SimCalibration {
  const g: Record<string, number> = { ...(cal.profileInterference?.gamma ?? {}) }
  const k: Record<string, number> = { ...(cal.profileCoresidency?.kappa ?? {}) }
  for (const key of keys) {
    if (key in g) console.error(`${key}: γ ${g[key]} already set, kept`)
    else g[key] = gamma
    if (key in k) console.error(`${key}: κ ${k[key]} already set, kept`)
    else k[key] = kappa
  }
  return {
    ...cal,
    profileInterference: { ...(cal.profileInterference ?? {}), gamma: g, measured },
    profileCoresidency: { ...(cal.profileCoresidency ?? {}), kappa: k, measured },
  }
}

function main() {
  const args = process.argv.slice(2)
  const opt = (name: string) => {
    const i = args.indexOf(name)
    return i >= 0 ? args[i + 1] : undefined
  }
  const dir = opt('--profiles') ?? 'profiles/h100'
  const batch = Number(opt('--batch') ?? '8')
  const gamma = Number(opt('--gamma'))
  const kappa = Number(opt('--kappa'))
  if (!Number.isFinite(gamma) || !Number.isFinite(kappa)) throw new Error('--gamma and --kappa are required')
  const cal = readFile<SimCalibration>(
    'sim-calibration',
    opt('--calibration') ?? join(dir, 'sim-calibration.json'),
  )
  const keys = profileKeysAt(dir, batch)
  if (keys.length === 0) throw new Error(`no batch-${batch} profiles in ${dir}`)
  const measured = {
    date: opt('--date') ?? new Date().toISOString().slice(0, 10),
    method: opt('--method') ?? `γ ${gamma} and κ ${kappa} for every batch-${batch} profile of ${dir}`,
    tool: 'bench/batch-calibration.ts',
    host: 'vm',
    gpu: cal.gpu.name,
    ...(opt('--notes') ? { notes: opt('--notes') as string } : {}),
  }
  const text = `${JSON.stringify(withBatchConstants(cal, keys, gamma, kappa, measured), null, 1)}\n`
  const out = opt('--out')
  if (out) writeFileSync(out, text)
  else process.stdout.write(text)
}

if (process.argv[1] && import.meta.filename === process.argv[1]) main()
