// Stage 3, version 2 (hot-swapped in while the demo runs).
export const handler = ({ user, word, n }) => `[v2] ${user.padEnd(5)} #${String(n).padStart(6)}  ${word.toUpperCase()}`;
export const healthCheck = () => true;
