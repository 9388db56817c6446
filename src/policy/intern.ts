/**
 * Memory sharing for parsed records (issue 7: heap per connection). Parsed values are read-only by type
 * and never mutated after parsing, so records whose source text is identical can share one parsed value:
 * a thousand devices tagged `group=3` hold one tag map, not a thousand. Only an identical source string
 * ever maps to a shared value, so two records that differ never share anything they could disagree on.
 */

/** Shared empty collections: never mutated (read-only by type), so every record may point at them. */
export const EMPTY_SET: ReadonlySet<string> = Object.freeze(new Set<string>());
export const EMPTY_LIST: readonly string[] = Object.freeze([]);

/**
 * A bounded cache from source text to its parsed value. Past `max` entries it starts over (clears):
 * a cache miss only costs one more parse, so the bound keeps memory flat when every record is distinct.
 */
export class Interner<T> {
  private readonly values = new Map<string, T>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.values.size;
  }

  get(source: string): T | undefined {
    return this.values.get(source);
  }

  /** Remembers `value` as the parse of `source` and returns it. */
  keep(source: string, value: T): T {
    if (this.values.size >= this.max) this.values.clear();
    this.values.set(source, value);
    return value;
  }
}
