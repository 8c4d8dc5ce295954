/** What running many things at once cost: wall time, each one's time, and this process's peak memory. */
export interface ParallelRun<T> {
  wallSeconds: number;
  results: { value: T; ms: number }[];
  peakRssMiB: number;
  peakHeapMiB: number;
}

/**
 * Start `run` for every item at once and wait for all, sampling memory every 20 ms (the
 * engine, handlers and SDK clients of this process; moto runs apart).
 */
export async function inParallel<I, T>(items: I[], run: (item: I) => Promise<T>): Promise<ParallelRun<T>> {
  let peakRss = 0;
  let peakHeap = 0;
  const sample = () => {
    const memory = process.memoryUsage();
    peakRss = Math.max(peakRss, memory.rss);
    peakHeap = Math.max(peakHeap, memory.heapUsed);
  };
  const sampler = setInterval(sample, 20);
  const start = performance.now();
  try {
    const results = await Promise.all(
      items.map(async (item) => {
        const begin = performance.now();
        const value = await run(item);
        return { value, ms: performance.now() - begin };
      }),
    );
    sample();
    return {
      wallSeconds: (performance.now() - start) / 1000,
      results,
      peakRssMiB: peakRss / 1_048_576,
      peakHeapMiB: peakHeap / 1_048_576,
    };
  } finally {
    clearInterval(sampler);
  }
}

/** The median and maximum of a list of milliseconds. */
export function spread(ms: number[]): { median: number; max: number } {
  const sorted = [...ms].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)] ?? 0, max: sorted.at(-1) ?? 0 };
}
