// The trivial stage of the pipeline benchmark, in the three shapes the contenders need:
// `handler` (a ringwire pipeline stage), `s1`/`s2`/`s3` (piscina task functions, one per stage).
// For objects it counts the hop; bytes pass through untouched.
export function handler(m) {
  if (m instanceof Uint8Array) return m;
  m.hops++;
  return m;
}
export const s1 = handler;
export const s2 = handler;
export const s3 = handler;
