// The root winston logger: JSON lines to a file (everything at the chosen level) and one short
// human line per event on stderr. Actors take `logger.child({ actor, ... })`; no global logger.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'silent';

export interface LoggerOptions {
  level: LogLevel;
  /** JSON-lines file; omitted → console only */
  file?: string;
  /** print human lines on stderr (default true) */
  console?: boolean;
}

const human = winston.format.printf((info) => {
  const { level, message, timestamp, actor, peerId, downloadId, stack: _stack, ...rest } = info as Record<string, unknown>;
  const who = [actor, peerId, downloadId].filter(Boolean).join(' ');
  const time = typeof timestamp === 'string' ? timestamp.slice(11, 23) : '';
  const fields = Object.entries(rest)
    .filter(([k]) => typeof k === 'string' && k !== 'splat')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} ${String(level).padEnd(5)} ${who ? `[${who}] ` : ''}${String(message)}${fields ? ' ' + fields : ''}`;
});

/** Build the root logger. `silent` logs nothing anywhere. */
export function createLogger(opts: LoggerOptions): winston.Logger {
  const transports: winston.transport[] = [];
  const level = opts.level === 'silent' ? 'error' : opts.level;
  if (opts.file) {
    mkdirSync(dirname(opts.file), { recursive: true });
    transports.push(
      new winston.transports.File({
        filename: opts.file,
        format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json()),
        maxsize: 20 * 1024 * 1024,
        maxFiles: 3,
        tailable: true,
      }),
    );
  }
  if (opts.console !== false) {
    transports.push(
      new winston.transports.Console({
        stderrLevels: ['error', 'warn', 'info', 'debug'],
        format: winston.format.combine(winston.format.timestamp(), human),
      }),
    );
  }
  return winston.createLogger({ level, silent: opts.level === 'silent', transports });
}
