// Sizes the studio accepts from a client, shared by the server (checked before decoding) and the UI
// (checked before sending). Data only, so the renderer can bundle it.

/** A dropped PNG: metadata import needs the file, and generation metadata PNGs are far smaller. */
export const MAX_DROPPED_FILE_BYTES = 32 * 1024 * 1024;

/**
 * The longest prompt read, in characters. A prompt is read as at most a few dozen 75-token chunks;
 * 20,000 characters is several hundred chunks already, and the cap keeps parsing and tokenizing bounded.
 */
export const MAX_PROMPT_CHARS = 20_000;
