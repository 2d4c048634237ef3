/**
 * Picks the known key a misspelt one most likely meant, so a typo like `clientId` or `redirectURL`
 * gets a "did you mean" instead of a bare "unknown option".
 */
export function findClosestKey(unknown: string, known: readonly string[]): string | undefined {
  const lowered = unknown.toLowerCase();
  const sameLetters = known.find((candidate) => candidate.toLowerCase() === lowered);
  if (sameLetters !== undefined) return sameLetters;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const distance = editDistance(lowered, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const tolerated = Math.max(2, Math.floor(unknown.length / 3));
  return bestDistance <= tolerated ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
