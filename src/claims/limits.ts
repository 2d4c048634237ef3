/**
 * Bounds that keep parsing and evaluation cheap whatever a config file holds. Together they bound
 * the work per request: evaluation visits each node once, and nodes are bounded by the length.
 */
export const MAX_EXPRESSION_LENGTH = 4096;
/** Counts both parentheses and `!`; well under what would strain the recursive-descent stack. */
export const MAX_NESTING_DEPTH = 32;
export const MAX_CALLS = 128;
