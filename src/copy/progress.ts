/** What a copy has done so far; rates and ETA are derived from it. */
export interface CopyCounts {
  users: number
  records: number
  bytes: number
}

/**
 * Progress of a copy: a line rewritten in place on a terminal, otherwise one log line per
 * interval (so a log file under systemd or CI gets a steady, bounded trickle).
 */
export class Progress {
  readonly counts: CopyCounts = { users: 0, records: 0, bytes: 0 }
  private readonly started = performance.now()
  private lastShown = 0

  constructor(
    private readonly totalRecords: number,
    private readonly write: (line: string, inPlace: boolean) => void,
    private readonly tty: boolean,
    private readonly intervalMs: number,
  ) {}

  add(users: number, records: number, bytes: number): void {
    this.counts.users += users
    this.counts.records += records
    this.counts.bytes += bytes
    const now = performance.now()
    if (now - this.lastShown >= (this.tty ? 250 : this.intervalMs)) {
      this.lastShown = now
      this.write(this.line(), this.tty)
    }
  }

  elapsedSeconds(): number {
    return (performance.now() - this.started) / 1000
  }

  line(): string {
    const seconds = Math.max(this.elapsedSeconds(), 0.001)
    const rate = this.counts.records / seconds
    const left = Math.max(this.totalRecords - this.counts.records, 0)
    const eta = rate > 0 ? `${Math.ceil(left / rate)} s` : '?'
    return (
      `copy: ${this.counts.users} users, ${this.counts.records}/${this.totalRecords} records, ` +
      `${(this.counts.bytes / 1e6).toFixed(1)} MB, ${Math.round(rate)} records/s, ` +
      `${(this.counts.bytes / 1e6 / seconds).toFixed(2)} MB/s, ETA ${eta}`
    )
  }

  finish(): void {
    this.write(this.line(), false)
  }
}
