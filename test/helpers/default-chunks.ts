// How many chunks a peer with the default settings cuts a file of `size` bytes into: tests that
// count chunks served or shown derive it rather than assume one chunk size.
import { chooseChunkSize, chunkCount } from '../../src/store/manifest.js';

export function defaultChunks(size: number): number {
  return chunkCount(size, chooseChunkSize(size));
}
