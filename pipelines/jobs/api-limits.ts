// Sizes the studio accepts from a client, shared by the server (checked before decoding) and the UI
// (checked before sending). Data only, so the renderer can bundle it.

/** A dropped PNG: metadata import needs the file, and generation metadata PNGs are far smaller. */
export const MAX_DROPPED_FILE_BYTES = 32 * 1024 * 1024;
