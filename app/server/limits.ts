// Sizes the studio accepts from a client, shared by the server (checks before decoding) and the UI
// (checks before sending). Data only, so the UI can import it.

/** A dropped PNG: metadata import needs the file, and generation metadata PNGs are far smaller. */
export const MAX_DROPPED_FILE_BYTES = 32 * 1024 * 1024;
