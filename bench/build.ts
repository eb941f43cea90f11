import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './exec.js';
import { ROOT } from './service.js';

/** Where the bench keeps its own build of src/, so that `dist/` (yours) is left alone. */
export const BUILD_DIR = join(ROOT, 'bench/.build');

/**
 * Compiles src/ as `npm run build` does (tsc, tsconfig.build.json), into bench/.build/dist, with the
 * two files the service finds relative to itself: migrations/ and package.json.
 */
export async function buildService(): Promise<string> {
  rmSync(BUILD_DIR, { recursive: true, force: true });
  const outDir = join(BUILD_DIR, 'dist');
  await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', outDir]);
  cpSync(join(ROOT, 'migrations'), join(BUILD_DIR, 'migrations'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(BUILD_DIR, 'package.json'));
  return outDir;
}
