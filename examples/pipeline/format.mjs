// Stage 3, version 1: formats a line.
export const handler = ({ user, word, n }) => `${user} #${n}: ${word}`;
