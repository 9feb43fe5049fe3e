// Throwaway certificates for TLS tests, made with the `openssl` command line: a CA and leaf
// certificates it signs (EC P-256, valid one day), in a temp dir removed after the test.
import { execFile, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Teardown } from './scope.js';
import { tempDir } from './tmp.js';

const run = promisify(execFile);

/** True when an `openssl` binary answers on PATH. */
export function haveOpenssl(): boolean {
  return spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
}

/** A certificate (PEM files on disk and their bytes). */
export interface CertFiles {
  cert: string;
  key: string;
  certPem: Buffer;
  keyPem: Buffer;
}

/** A CA that can sign leaf certificates. */
export interface TestCa extends CertFiles {
  issue(name: string): Promise<CertFiles>;
}

/** A fresh self-signed CA named `name`. */
export async function makeCa(t: Teardown, name: string): Promise<TestCa> {
  const dir = await tempDir(t, 'p2p-certs-');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const files = (base: string) => ({ cert: join(dir, `${base}.crt`), key: join(dir, `${base}.key`) });
  const load = async (f: { cert: string; key: string }): Promise<CertFiles> => ({ ...f, certPem: await readFile(f.cert), keyPem: await readFile(f.key) });
  const ca = files('ca');
  await run('openssl', ['req', '-x509', ...ec, '-keyout', ca.key, '-out', ca.cert, '-days', '1', '-subj', `/CN=${name}`]);
  return {
    ...(await load(ca)),
    async issue(leaf: string) {
      const f = files(leaf);
      const csr = join(dir, `${leaf}.csr`);
      await run('openssl', ['req', ...ec, '-keyout', f.key, '-out', csr, '-subj', `/CN=${leaf}`]);
      await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', f.cert, '-days', '1']);
      return load(f);
    },
  };
}
