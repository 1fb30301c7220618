// KServe v2 tensor datatypes: names, element sizes and the conversions between JSON numbers and raw little-endian
// bytes (the form tensors take in the binary-tensor extension and on the way to the backend).
import { KSERVE_DATATYPES } from '../../formats/serve-config.ts'

export const DATATYPES = KSERVE_DATATYPES
export type Datatype = (typeof DATATYPES)[number]

export function isDatatype(s: unknown): s is Datatype {
  return typeof s === 'string' && (DATATYPES as readonly string[]).includes(s)
}

export const ELEMENT_BYTES: Record<Datatype, number> = {
  BOOL: 1,
  UINT8: 1,
  UINT16: 2,
  UINT32: 4,
  UINT64: 8,
  INT8: 1,
  INT16: 2,
  INT32: 4,
  INT64: 8,
  FP16: 2,
  BF16: 2,
  FP32: 4,
  FP64: 8,
}

const INT_RANGE: Partial<Record<Datatype, [number, number]>> = {
  UINT8: [0, 255],
  UINT16: [0, 65535],
  UINT32: [0, 4294967295],
  UINT64: [0, Number.MAX_SAFE_INTEGER],
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  INT32: [-2147483648, 2147483647],
  INT64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
}

/**
 * Why `v` cannot be an element of `dt` in a JSON tensor, or undefined when it can. JSON has no NaN/Inf, so every
 * float element is a finite number; integers must be whole and in range (64-bit ones within JS's safe range).
 */
export function elementError(dt: Datatype, v: unknown): string | undefined {
  if (dt === 'BOOL') return typeof v === 'boolean' ? undefined : `${show(v)} is not a boolean`
  if (typeof v !== 'number') return `${show(v)} is not a number`
  const range = INT_RANGE[dt]
  if (range) {
    if (!Number.isInteger(v)) return `${v} is not an integer`
    if (v < range[0] || v > range[1]) return `${v} is out of range for ${dt}`
  }
  // JSON.parse reads 1e400 as Infinity; and a finite number past a float type's largest would become infinity
  if (!Number.isFinite(v)) return `${v} is not a finite number`
  if (overflows(dt, v)) return `${v} is out of range for ${dt} (largest finite ±${FLOAT_MAX[dt]})`
  return undefined
}

const FLOAT_MAX: Partial<Record<Datatype, number>> = {
  FP16: 65504,
  BF16: 3.3895313892515355e38,
  FP32: 3.4028234663852886e38,
  FP64: Number.MAX_VALUE,
}

/** Whether a finite `v` rounds to infinity in `dt` (round to nearest even, as encodeElements writes it). */
function overflows(dt: Datatype, v: number): boolean {
  if (dt === 'FP16') return (toHalf(v) & 0x7c00) === 0x7c00
  if (dt === 'FP32') return !Number.isFinite(Math.fround(v))
  if (dt === 'BF16') return (bf16Bits(v) & 0x7f80) === 0x7f80
  return false
}

function show(v: unknown): string {
  const s = JSON.stringify(v)
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 40)}…` : s
}

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

/** bfloat16 bits of a JS number: round to nearest even on the upper 16 bits of the FP32 pattern. */
function bf16Bits(v: number): number {
  f32[0] = v
  const b = u32[0] ?? 0
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff
}

/** IEEE half from a JS number, round to nearest even. */
export function toHalf(x: number): number {
  f32[0] = x
  const b = u32[0] ?? 0
  const sign = (b >>> 16) & 0x8000
  const exp = (b >>> 23) & 0xff
  let mant = b & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0)
  const e = exp - 127 + 15
  if (e >= 0x1f) return sign | 0x7c00
  if (e <= 0) {
    if (e < -10) return sign
    mant |= 0x800000
    const shift = 14 - e
    let h = mant >>> shift
    const rem = mant & ((1 << shift) - 1)
    const half = 1 << (shift - 1)
    if (rem > half || (rem === half && h & 1)) h++
    return sign | h
  }
  let h = (e << 10) | (mant >>> 13)
  const rem = mant & 0x1fff
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++
  return sign | h
}

export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1
  const exp = (h >>> 10) & 0x1f
  const mant = h & 0x3ff
  if (exp === 0) return sign * mant * 2 ** -24
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY
  return sign * (1 + mant / 1024) * 2 ** (exp - 15)
}

/** Raw little-endian bytes of already-validated JSON elements. */
export function encodeElements(dt: Datatype, values: readonly (number | boolean)[]): Buffer {
  const n = values.length
  const buf = Buffer.allocUnsafe(n * ELEMENT_BYTES[dt])
  for (let i = 0; i < n; i++) {
    const v = values[i] as number
    switch (dt) {
      case 'BOOL':
        buf.writeUInt8(values[i] ? 1 : 0, i)
        break
      case 'UINT8':
        buf.writeUInt8(v, i)
        break
      case 'INT8':
        buf.writeInt8(v, i)
        break
      case 'UINT16':
        buf.writeUInt16LE(v, i * 2)
        break
      case 'INT16':
        buf.writeInt16LE(v, i * 2)
        break
      case 'UINT32':
        buf.writeUInt32LE(v, i * 4)
        break
      case 'INT32':
        buf.writeInt32LE(v, i * 4)
        break
      case 'UINT64':
        buf.writeBigUInt64LE(BigInt(v), i * 8)
        break
      case 'INT64':
        buf.writeBigInt64LE(BigInt(v), i * 8)
        break
      case 'FP16':
        buf.writeUInt16LE(toHalf(v), i * 2)
        break
      case 'BF16':
        buf.writeUInt16LE(bf16Bits(v), i * 2)
        break
      case 'FP32':
        buf.writeFloatLE(v, i * 4)
        break
      case 'FP64':
        buf.writeDoubleLE(v, i * 8)
        break
    }
  }
  return buf
}

/** JSON elements of raw little-endian bytes (64-bit integers beyond 2^53 lose precision, as in any JSON client). */
export function decodeElements(dt: Datatype, buf: Buffer): (number | boolean)[] {
  const n = buf.length / ELEMENT_BYTES[dt]
  const out: (number | boolean)[] = new Array(n)
  for (let i = 0; i < n; i++) {
    switch (dt) {
      case 'BOOL':
        out[i] = buf.readUInt8(i) !== 0
        break
      case 'UINT8':
        out[i] = buf.readUInt8(i)
        break
      case 'INT8':
        out[i] = buf.readInt8(i)
        break
      case 'UINT16':
        out[i] = buf.readUInt16LE(i * 2)
        break
      case 'INT16':
        out[i] = buf.readInt16LE(i * 2)
        break
      case 'UINT32':
        out[i] = buf.readUInt32LE(i * 4)
        break
      case 'INT32':
        out[i] = buf.readInt32LE(i * 4)
        break
      case 'UINT64':
        out[i] = Number(buf.readBigUInt64LE(i * 8))
        break
      case 'INT64':
        out[i] = Number(buf.readBigInt64LE(i * 8))
        break
      case 'FP16':
        out[i] = fromHalf(buf.readUInt16LE(i * 2))
        break
      case 'BF16':
        u32[0] = buf.readUInt16LE(i * 2) << 16
        out[i] = f32[0] ?? 0
        break
      case 'FP32':
        out[i] = buf.readFloatLE(i * 4)
        break
      case 'FP64':
        out[i] = buf.readDoubleLE(i * 8)
        break
    }
  }
  return out
}
