/** A small deterministic PRNG (mulberry32), so a failing generated run can be replayed from its seed. */
export function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** One item of a list, chosen by `random`. */
export function pickWith(random: () => number) {
  return <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
}
