// Busy polling of the event loop while a backend has requests in flight. Asleep in epoll, the loop is woken by the
// kernel for every reply and every client request, and a wake-up across CPUs costs more than the read it serves. An
// immediate queued again every turn makes libuv poll with a zero timeout instead, so the loop never sleeps while
// work is out: one core spent while busy, nothing while idle.

export class BusyPoll {
  private spinning = false

  /** `busy` says whether anything is still in flight; the spin stops at the first turn it is not. */
  constructor(private readonly busy: () => boolean) {}

  /** Starts spinning, unless it already is. */
  kick(): void {
    if (this.spinning) return
    this.spinning = true
    setImmediate(this.spin)
  }

  get active(): boolean {
    return this.spinning
  }

  private readonly spin = () => {
    if (this.busy()) setImmediate(this.spin)
    else this.spinning = false
  }
}
