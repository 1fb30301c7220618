// The simulator as a ExecuteBackend: what `eclip bench` uses when there is no GPU (or with --backend sim).
import type { ExecuteBackend, RunResult, RunSpec } from '../backend.ts'
import type { Calibration } from './contention.ts'
import { simulate } from './engine.ts'

export {
  CALIBRATION,
  type Calibration,
  calibrationFrom,
  graphEdgeUs,
  type InterferenceLoad,
  LINEAR_LOAD,
  mpsClientRateOf,
} from './contention.ts'
export { defaultPowerModel, defaultPrimitives } from './costs.ts'
export { latencyScale, type SimStats, simulate } from './engine.ts'
export { describePower, energyJ, requestWorkSmUs, workSmUs } from './power.ts'

export class SimBackend implements ExecuteBackend {
  readonly name = 'sim' as const
  constructor(private readonly calibration?: Calibration) {}

  async run(spec: RunSpec): Promise<RunResult> {
    const { stats: _stats, ...result } = simulate(
      spec,
      this.calibration ? { calibration: this.calibration } : {},
    )
    return result
  }

  async close(): Promise<void> {}
}
