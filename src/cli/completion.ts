// `p2p completion bash|zsh|fish`: a shell completion script for commands and their options, built
// from the same command definitions as --help (so it never goes stale).
import { Command, InvalidArgumentError } from 'commander';
import { action } from './args.js';

type Register = (program: Command) => void;
interface Entry {
  name: string;
  summary: string;
  load: () => Promise<Register>;
}

interface Spec {
  name: string;
  summary: string;
  options: Array<{ flags: string[]; description: string }>;
}

const SHELLS = ['bash', 'zsh', 'fish'];

/** Register `completion`; `entries` are every command of the CLI (main.ts's table). */
export function completionCommand(entries: Entry[]): Register {
  return (program) => {
    program
      .command('completion')
      .description('print a shell completion script: p2p completion bash|zsh|fish')
      .argument('<shell>', 'bash, zsh or fish', (v: string) => {
        if (!SHELLS.includes(v)) throw new InvalidArgumentError(`choose one of ${SHELLS.join(', ')}`);
        return v;
      })
      .addHelpText('after', '\nInstall: p2p completion bash > ~/.local/share/bash-completion/completions/p2p\n         p2p completion zsh > "${fpath[1]}/_p2p"\n         p2p completion fish > ~/.config/fish/completions/p2p.fish')
      .action(
        action(async (shell: string) => {
          const specs: Spec[] = [];
          for (const entry of entries) {
            const scratch = new Command();
            const register = entry.name === 'completion' ? completionCommand([]) : await entry.load();
            register(scratch);
            const cmd = scratch.commands.find((c) => c.name() === entry.name);
            const options = (cmd?.options ?? []).map((o) => ({ flags: [o.long, o.short].filter((f): f is string => Boolean(f)), description: o.description }));
            specs.push({ name: entry.name, summary: entry.summary, options: [...options, { flags: ['--help'], description: 'show help' }] });
          }
          const globals = program.options.map((o) => ({ flags: [o.long, o.short].filter((f): f is string => Boolean(f)), description: o.description }));
          const script = shell === 'fish' ? fish(specs, globals) : shell === 'zsh' ? zsh(specs, globals) : bash(specs, globals);
          process.stdout.write(script);
        }),
      );
  };
}

function bash(specs: Spec[], globals: Spec['options']): string {
  const words = (opts: Spec['options']) => opts.flatMap((o) => o.flags).join(' ');
  const cases = specs.map((s) => `    ${s.name}) opts="${words(s.options)} ${words(globals)}";;`).join('\n');
  return `# bash completion for p2p (p2p completion bash)
_p2p() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmd="" opts w i
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in -*) ;; *) cmd="$w"; break;; esac
  done
  case "$cmd" in
    "") opts="${specs.map((s) => s.name).join(' ')} help ${words(globals)} --version --help";;
${cases}
    *) opts="";;
  esac
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -o default -F _p2p p2p
`;
}

function zsh(specs: Spec[], globals: Spec['options']): string {
  // zsh runs the bash function through bashcompinit: one script, the same behaviour
  return `#compdef p2p
# zsh completion for p2p (p2p completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bash(specs, globals)}`;
}

function fish(specs: Spec[], globals: Spec['options']): string {
  const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const lines = ['# fish completion for p2p (p2p completion fish)', 'complete -c p2p -f'];
  for (const s of specs) lines.push(`complete -c p2p -n __fish_use_subcommand -a ${s.name} -d ${q(s.summary)}`);
  const opt = (cond: string, o: Spec['options'][number]) => {
    const parts = o.flags.map((f) => (f.startsWith('--') ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`));
    return `complete -c p2p ${cond}${parts.join(' ')} -d ${q(o.description)}`;
  };
  for (const o of globals) lines.push(opt('', o));
  for (const s of specs) for (const o of s.options) lines.push(opt(`-n '__fish_seen_subcommand_from ${s.name}' `, o));
  return lines.join('\n') + '\n';
}
