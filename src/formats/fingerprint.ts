// The fingerprint of a kernel sequence. The Python side (gpu/eclip_gpu/fingerprint.py) computes the same hash;
// test/fixtures/fingerprint-vectors.json holds vectors both test suites check.
import { createHash } from 'node:crypto'
import type { Dim3 } from './common.ts'

export interface KernelSignature {
  name: string
  grid: Dim3
  block: Dim3
  sharedMemBytes: number
}

/** sha256 over one line per kernel, "name|gx,gy,gz|bx,by,bz|smem", joined by "\n". */
export function fingerprint(kernels: readonly KernelSignature[]): string {
  const text = kernels
    .map((k) => `${k.name}|${k.grid.join(',')}|${k.block.join(',')}|${k.sharedMemBytes}`)
    .join('\n')
  return `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`
}
