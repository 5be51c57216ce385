/**
 * The agent id is part of every store key this agent writes, so it must not change while files are pending: a
 * changed id would put the next upload of a file under a second key. The first start writes it to
 * `<dataDir>/agent-id`; later starts use that file, and a configured id that disagrees is an error, not a rename.
 */
import { readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { defaultAgentId, validateAgentId } from '../../core/layout.ts';
import { writeFileAtomic } from '../warm/atomic-file.ts';

export const AGENT_ID_FILE = 'agent-id';

export class AgentIdError extends Error {
  override readonly name = 'AgentIdError';
}

export interface ResolveAgentIdOptions {
  readonly dataDir: string;
  /** The id from the config, if any; validated. */
  readonly configured?: string;
  /** @default os.hostname() */
  readonly hostname?: string;
}

/** The agent's id: the one recorded in the data directory, else the configured one, else one from the hostname. */
export async function resolveAgentId(options: ResolveAgentIdOptions): Promise<string> {
  const file = join(options.dataDir, AGENT_ID_FILE);
  const configured = options.configured === undefined ? undefined : validateAgentId(options.configured);
  let recorded: string | undefined;
  try {
    recorded = readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new AgentIdError(`agent id file ${file}: cannot read (${(err as Error).message})`, { cause: err });
    }
  }
  if (recorded !== undefined) {
    try {
      validateAgentId(recorded);
    } catch (err) {
      throw new AgentIdError(`agent id file ${file}: ${(err as Error).message}; fix or remove it`, { cause: err });
    }
    if (configured !== undefined && configured !== recorded) {
      throw new AgentIdError(
        `configured agent id ${JSON.stringify(configured)} differs from ${JSON.stringify(recorded)} recorded in ${file}: ` +
          'keys of files already uploaded use the recorded one; configure that, or move the data directory aside',
      );
    }
    return recorded;
  }
  const id = configured ?? defaultAgentId(options.hostname ?? osHostname());
  await writeFileAtomic(file, new TextEncoder().encode(`${id}\n`));
  return id;
}
