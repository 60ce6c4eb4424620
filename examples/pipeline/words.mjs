// Stage 1 of the pipeline demo: a sentence → one message per word (a generator: several outputs).
export function* handler({ user, text }) {
  for (const word of text.split(/\s+/)) if (word) yield { user, word: word.toLowerCase() };
}
