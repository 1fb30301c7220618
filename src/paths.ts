// Where eclip's shipped files live (mixes/, profiles/, gpu/): the repository this module sits in, or $ECLIP_HOME when
// the CLI runs as a bundle outside it (scripts/device-bundle.sh, for the GPU machine).
import { join, resolve } from 'node:path'

export const ECLIP_HOME = process.env.ECLIP_HOME
  ? resolve(process.env.ECLIP_HOME)
  : resolve(import.meta.dirname, '..')
export const PAPER_MIXES = join(ECLIP_HOME, 'mixes', 'paper.yaml')
export const PROFILES_HOME = join(ECLIP_HOME, 'profiles')
/** Shipped workload files (`eclip bench --workload NAME`). */
export const WORKLOADS_HOME = join(ECLIP_HOME, 'workloads')
/** The Python GPU backend package's parent (goes on PYTHONPATH). */
export const GPU_PACKAGE_DIR = join(ECLIP_HOME, 'gpu')
