// Stage 2: counts words per user. The pipeline partitions by user, so all of a user's messages
// reach the same worker, in order: the counts can live in this worker's memory.
const counts = new Map();
export function handler({ user, word }) {
  if (word === 'boom') throw new Error(`cannot count '${word}'`);
  const n = (counts.get(user) ?? 0) + 1;
  counts.set(user, n);
  return { user, word, n };
}
