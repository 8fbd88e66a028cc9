// The executor benchmark's handler: takes each chunk and does nothing, so what is measured is
// lading's own overhead (read, chunk, validate/map, commit a checkpoint per chunk).
export function processChunk() {}
