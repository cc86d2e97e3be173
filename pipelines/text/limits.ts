// Bounds on prompt text. Data only: the request schema (which the renderer bundles) and the parser share it.

/**
 * The longest prompt read, in characters. A prompt is read as at most a few dozen 75-token chunks;
 * 20,000 characters is several hundred chunks already, and the cap keeps parsing and tokenizing bounded.
 */
export const MAX_PROMPT_CHARS = 20_000;
