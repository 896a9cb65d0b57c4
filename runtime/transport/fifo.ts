// A growable ring-buffer FIFO: O(1) push and shift without Array#shift's O(n) copies.
export class Fifo<T> {
  private buf: (T | undefined)[];
  private head = 0;
  private len = 0;

  constructor(initialCapacity = 64) {
    let cap = 1;
    while (cap < initialCapacity) cap <<= 1;
    this.buf = new Array<T | undefined>(cap);
  }

  get length(): number {
    return this.len;
  }

  push(item: T): void {
    if (this.len === this.buf.length) this.grow();
    this.buf[(this.head + this.len) & (this.buf.length - 1)] = item;
    this.len++;
  }

  /** The oldest item, or undefined when empty. */
  peek(): T | undefined {
    return this.len === 0 ? undefined : this.buf[this.head];
  }

  /** The newest item, or undefined when empty. */
  peekLast(): T | undefined {
    return this.len === 0 ? undefined : this.buf[(this.head + this.len - 1) & (this.buf.length - 1)];
  }

  /** Replaces the newest item (no-op when empty). */
  replaceLast(item: T): void {
    if (this.len > 0) this.buf[(this.head + this.len - 1) & (this.buf.length - 1)] = item;
  }

  shift(): T | undefined {
    if (this.len === 0) return undefined;
    const item = this.buf[this.head];
    this.buf[this.head] = undefined; // let the GC have it
    this.head = (this.head + 1) & (this.buf.length - 1);
    this.len--;
    return item;
  }

  clear(): void {
    this.buf = new Array<T | undefined>(64);
    this.head = 0;
    this.len = 0;
  }

  private grow(): void {
    const old = this.buf;
    const next = new Array<T | undefined>(old.length * 2);
    for (let i = 0; i < this.len; i++) next[i] = old[(this.head + i) & (old.length - 1)];
    this.buf = next;
    this.head = 0;
  }
}
