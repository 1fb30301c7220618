// The simulator's event queue: a binary min-heap ordered by (time, seq), seq being the insertion order so that
// events at the same instant are handled first-in first-out and every run is reproducible. Struct-of-arrays storage
// (no object per event) keeps the hot loop free of allocation.
export class EventHeap {
  private time = new Float64Array(64)
  private seq = new Float64Array(64)
  private payload = new Int32Array(64)
  private n = 0
  private nextSeq = 0

  get size(): number {
    return this.n
  }

  /** Time of the earliest event, Infinity when empty. */
  peekTime(): number {
    return this.n > 0 ? (this.time[0] as number) : Number.POSITIVE_INFINITY
  }

  push(t: number, payload: number): void {
    if (this.n === this.time.length) this.grow()
    let i = this.n++
    const s = this.nextSeq++
    // sift up
    while (i > 0) {
      const p = (i - 1) >> 1
      const pt = this.time[p] as number
      if (pt < t || (pt === t && (this.seq[p] as number) < s)) break
      this.time[i] = pt
      this.seq[i] = this.seq[p] as number
      this.payload[i] = this.payload[p] as number
      i = p
    }
    this.time[i] = t
    this.seq[i] = s
    this.payload[i] = payload
  }

  /** Removes the earliest event and returns its payload; call peekTime() first for its time. */
  pop(): number {
    if (this.n === 0) throw new Error('pop from an empty event heap')
    const top = this.payload[0] as number
    const last = --this.n
    if (last > 0) {
      const t = this.time[last] as number
      const s = this.seq[last] as number
      const pl = this.payload[last] as number
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= last) break
        const r = l + 1
        let c = l
        if (r < last) {
          const lt = this.time[l] as number
          const rt = this.time[r] as number
          if (rt < lt || (rt === lt && (this.seq[r] as number) < (this.seq[l] as number))) c = r
        }
        const ct = this.time[c] as number
        if (t < ct || (t === ct && s < (this.seq[c] as number))) break
        this.time[i] = ct
        this.seq[i] = this.seq[c] as number
        this.payload[i] = this.payload[c] as number
        i = c
      }
      this.time[i] = t
      this.seq[i] = s
      this.payload[i] = pl
    }
    return top
  }

  private grow(): void {
    const n = this.time.length * 2
    const t = new Float64Array(n)
    t.set(this.time)
    const s = new Float64Array(n)
    s.set(this.seq)
    const p = new Int32Array(n)
    p.set(this.payload)
    this.time = t
    this.seq = s
    this.payload = p
  }
}
