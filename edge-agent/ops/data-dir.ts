/** Where the agent keeps things under its data directory (the layout agent.ts and its parts use). */
import { join, resolve } from 'node:path';

export interface DataDirPaths {
  readonly dataDir: string;
  readonly warmDir: string;
  readonly stateDir: string;
  readonly ledger: string;
  readonly walDir: string;
  readonly snapshotsDir: string;
  readonly quarantineDir: string;
  readonly agentIdFile: string;
  /** The default local store when none is given. */
  readonly defaultStore: string;
}

export function dataDirPaths(dataDir: string): DataDirPaths {
  const root = resolve(dataDir);
  return {
    dataDir: root,
    warmDir: join(root, 'warm'),
    stateDir: join(root, 'state'),
    ledger: join(root, 'state', 'warm-ledger.jsonl'),
    walDir: join(root, 'wal'),
    snapshotsDir: join(root, 'state', 'snapshots'),
    quarantineDir: join(root, 'quarantine'),
    agentIdFile: join(root, 'agent-id'),
    defaultStore: join(root, 'store'),
  };
}
