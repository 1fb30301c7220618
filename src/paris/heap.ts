// The simulator's event queue: a binary min-heap ordered by (time, seq). seq breaks ties in insertion order, so two
// events at the same instant always pop in the same order and a seeded run is reproducible.

export interface Timed {
  time: number
  seq: number
}

export class EventHeap<T extends Timed> {
  private items: T[] = []

  get size(): number {
    return this.items.length
  }

  peek(): T | undefined {
    return this.items[0]
  }

  push(item: T): void {
    const a = this.items
    a.push(item)
    let i = a.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!before(a[i] as T, a[p] as T)) break
      ;[a[i], a[p]] = [a[p] as T, a[i] as T]
      i = p
    }
  }

  pop(): T | undefined {
    const a = this.items
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last) {
      a[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < a.length && before(a[l] as T, a[m] as T)) m = l
        if (r < a.length && before(a[r] as T, a[m] as T)) m = r
        if (m === i) break
        ;[a[i], a[m]] = [a[m] as T, a[i] as T]
        i = m
      }
    }
    return top
  }
}

const before = (x: Timed, y: Timed) => x.time < y.time || (x.time === y.time && x.seq < y.seq)
