// `p2p keygen --out FILE`: write a new random swarm key (32 bytes, hex) that only its owner can
// read; an existing file is never overwritten.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { BadRequestError, IoError } from '../errors.js';
import { newSwarmKeyText } from '../transport/swarm-auth.js';
import { action } from './args.js';

/** Create `file` with a new swarm key, mode 0600; BadRequestError if it exists. */
export async function writeSwarmKey(file: string): Promise<void> {
  let fh;
  try {
    // O_EXCL: never overwrite a key (or anything else); O_NOFOLLOW: never write through a link
    fh = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new BadRequestError(`${file} already exists: not overwriting it (remove it first, or choose another --out)`);
    throw new IoError(`cannot create ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    await fh.chmod(0o600); // the umask may have taken bits away, never added: make it exact
    await fh.writeFile(newSwarmKeyText());
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function keygenCommand(program: Command): void {
  program
    .command('keygen')
    .description('write a new random swarm key (for `p2p peer --swarm-key-file`); give the same file to every peer of the swarm')
    .requiredOption('--out <file>', 'file to create (mode 0600; never overwritten)')
    .action(
      action(async (opts: { out: string }) => {
        const file = resolve(opts.out);
        await writeSwarmKey(file);
        process.stdout.write(`${file}\n`);
      }),
    );
}
