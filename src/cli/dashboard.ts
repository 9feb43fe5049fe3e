// `p2p dashboard [--port N] [--host ADDR]`: the live web dashboard. Binds 127.0.0.1 by default;
// any other address needs a token (from config/env P2P_DASHBOARD_TOKEN, else generated and printed).
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { action, configFrom, intOption, natsAuth, runDaemon } from './common.js';

interface DashboardFlags {
  port?: number;
  host?: string;
  token?: string;
  logFile?: string;
}

export function dashboardCommand(program: Command): void {
  program
    .command('dashboard')
    .description('serve a live web dashboard of the swarm: files, chunk maps, peers, downloads and their state machines')
    .option('--port <n>', 'HTTP port (default from config: 7070; 0 picks a free one)', intOption('--port', 0, 65535))
    .option('--host <addr>', 'address to bind (default 127.0.0.1); any other needs the token printed at start')
    .option('--token <token>', 'access token (prefer env P2P_DASHBOARD_TOKEN: flags show in ps)')
    .option('--log-file <file>', 'JSON log file')
    .action(
      action(async (opts: DashboardFlags, cmd: Command) => {
        const config = await configFrom(cmd);
        const [{ randomBytes }, { createLogger }, { connectBus, watchConnection }, { Dashboard }, { DashboardServer }, machine] = await Promise.all([
          import('node:crypto'),
          import('../logger.js'),
          import('../transport/bus.js'),
          import('../../actors/dashboard.js'),
          import('../dashboard/server.js'),
          loadMachine(),
        ]);
        const host = opts.host ?? config.dashboard.host;
        // only the default loopback addresses go without a token: any other --host is meant to be reached
        const loopback = ['127.0.0.1', 'localhost', '::1'].includes(host);
        const token = opts.token || config.dashboard.token || (loopback ? '' : randomBytes(18).toString('base64url'));
        const logger = createLogger({ level: config.logLevel, file: opts.logFile ? resolve(opts.logFile) : undefined });
        const nc = await connectBus({ url: config.nats.url, name: 'p2p-dashboard', reconnect: true, extra: natsAuth(config) });
        watchConnection(nc, logger.child({ actor: 'bus' }));
        const dashboard = new Dashboard({ nc, logger }, { prefix: config.prefix });
        const serverFor = (port: number) => new DashboardServer(dashboard, { host, port, token: token || undefined, allowedHosts: loopback ? new Set() : undefined, machine }, logger);
        let server = serverFor(opts.port ?? config.dashboard.port);
        let url = '';
        const daemon = {
          start: async () => {
            await dashboard.start();
            const addr = await server.start().catch(async (err: NodeJS.ErrnoException) => {
              // the default port is taken (another dashboard?): any free one will do, unless asked for
              if (err.code !== 'EADDRINUSE' || opts.port !== undefined) throw err;
              logger.warn('dashboard port taken, using a free one', { port: config.dashboard.port });
              server = serverFor(0);
              return server.start();
            });
            const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
            url = `http://${shown}:${addr.port}/${token ? `?token=${encodeURIComponent(token)}` : ''}`;
          },
          stop: async () => {
            await server.stop();
            await dashboard.stop();
          },
        };
        await runDaemon(daemon, {
          nc,
          logger,
          ready: () => {
            process.stdout.write(`dashboard ready at ${url}\n`);
            logger.info('dashboard ready', { actor: 'dashboard', host, nats: config.nats.url, prefix: config.prefix, token: token ? 'required' : 'none' });
          },
        });
      }),
    );
}

/** The download machine's graph and layout, computed once at start. */
async function loadMachine() {
  const [{ downloadMachine }, { machineGraph }, { layoutMachine }] = await Promise.all([
    import('../../machines/download.js'),
    import('../dashboard/graph.js'),
    import('../dashboard/layout.js'),
  ]);
  const graph = machineGraph(downloadMachine);
  return { graph, layout: await layoutMachine(graph) };
}
