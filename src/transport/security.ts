// Data-plane security from configuration: the swarm key (file or text) and the TLS material for
// chunk connections, read and checked once at start so a bad file is a ConfigError, not a
// failure on the first connection.
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Config } from '../../config/index.js';
import { ConfigError } from '../errors.js';
import { parseSwarmKey } from './swarm-auth.js';

/** What a chunk server needs: the key it requires (if any) and its TLS identity (if any). */
export interface ServerSecurity {
  swarmKey?: Buffer;
  tls?: SecureContext;
}

/** What a chunk client needs: the key it proves (if any) and how it checks TLS servers (if any). */
export interface ClientSecurity {
  swarmKey?: Buffer;
  /** connect with TLS, verifying the server's chain against `ca` (else the system store) */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

/** Both sides, plus what deserves a warning in the log (e.g. a key file others can read). */
export interface DataPlaneSecurity {
  server: ServerSecurity;
  client: ClientSecurity;
  warnings: string[];
}

type SecurityConfig = Pick<Config['peer'], 'swarmKeyFile' | 'swarmKey' | 'tls'>;

const KEY_HINT = 'it must hold 64 hex digits (make one with `p2p keygen --out FILE`)';

/** Read and check the data-plane security settings; ConfigError names the key at fault. */
export function loadDataPlaneSecurity(peer: SecurityConfig): DataPlaneSecurity {
  const warnings: string[] = [];
  let swarmKey: Buffer | undefined;
  if (peer.swarmKeyFile && peer.swarmKey) throw new ConfigError('set peer.swarmKeyFile or peer.swarmKey (P2P_PEER_SWARM_KEY), not both');
  if (peer.swarmKeyFile) {
    const text = readConfigFile('peer.swarmKeyFile (P2P_PEER_SWARM_KEY_FILE)', peer.swarmKeyFile).toString('utf8');
    swarmKey = parseSwarmKey(text);
    if (!swarmKey) throw new ConfigError(`swarm key file ${peer.swarmKeyFile} is malformed: ${KEY_HINT}`);
    const mode = statSync(peer.swarmKeyFile).mode & 0o777;
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      warnings.push(`swarm key file ${peer.swarmKeyFile} is readable by others (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 it`);
    }
  } else if (peer.swarmKey) {
    swarmKey = parseSwarmKey(peer.swarmKey);
    if (!swarmKey) throw new ConfigError(`peer.swarmKey (P2P_PEER_SWARM_KEY) is malformed: ${KEY_HINT}`);
  }

  const { cert, key, ca } = peer.tls;
  if (Boolean(cert) !== Boolean(key)) throw new ConfigError('peer.tls.cert and peer.tls.key go together (P2P_PEER_TLS_CERT, P2P_PEER_TLS_KEY)');
  const certPem = cert ? readConfigFile('peer.tls.cert (P2P_PEER_TLS_CERT)', cert) : undefined;
  const keyPem = key ? readConfigFile('peer.tls.key (P2P_PEER_TLS_KEY)', key) : undefined;
  const caPem = ca ? readConfigFile('peer.tls.ca (P2P_PEER_TLS_CA)', ca) : undefined;
  let serverTls: SecureContext | undefined;
  if (certPem && keyPem) {
    try {
      serverTls = createSecureContext({ cert: certPem, key: keyPem, ...(caPem ? { ca: caPem } : {}) });
    } catch (err) {
      throw new ConfigError(`cannot use the TLS certificate ${cert} with the key ${key}: ${(err as Error).message}`);
    }
  }
  const clientTls = caPem || certPem ? { ...(caPem ? { ca: caPem } : {}), ...(certPem && keyPem ? { cert: certPem, key: keyPem } : {}) } : undefined;
  return {
    server: { ...(swarmKey ? { swarmKey } : {}), ...(serverTls ? { tls: serverTls } : {}) },
    client: { ...(swarmKey ? { swarmKey } : {}), ...(clientTls ? { tls: clientTls } : {}) },
    warnings,
  };
}

function readConfigFile(what: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
}
