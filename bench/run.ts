import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { BUILD_DIR, buildService } from './build.js';
import { bulkScenario, scriptBaseline } from './bulk.js';
import { createBenchDatabase, DEFAULT_DATABASE_URL, migrateBenchDatabase, type BenchDatabase } from './database.js';
import { describeCode, describeMachine } from './machine.js';
import { MAX_PHONES } from './payload.js';
import { prepareBaseline, runPgbench } from './pgbench.js';
import { formatReport, RESULTS_FILE, writeResults, type BenchResults } from './report.js';
import { ServerCpu } from './server-cpu.js';
import { loadGeneratorCpuSeconds, PROFILE_DIR, startService, type Service, type ServiceOptions } from './service.js';
import { hotScenario, webhookScenario } from './webhook.js';

const SCENARIOS = ['webhook', 'hot', 'bulk'] as const;
type Scenario = (typeof SCENARIOS)[number];

const USAGE = `npm run bench -- [--scenario webhook|hot|bulk|all] [--phones N] [--connections N] [--entry dist|tsx]

  --scenario     which scenario to run (default all); webhook also runs the pgbench baseline,
                 bulk the psql script baseline
  --phones       requests per scenario, and bulk lines (default 100000, at most ${MAX_PHONES})
  --connections  autocannon connections and pgbench clients (default 64)
  --entry        dist: a tsc build of src/ in bench/.build (default); tsx: node --import tsx src/index.ts
  --profile      the service writes a V8 CPU profile into ${PROFILE_DIR} when it stops

PostgreSQL: DATABASE_URL (default ${DEFAULT_DATABASE_URL}); the bench creates its own databases
there and drops them at the end. Other service variables (DB_POOL_SIZE, MAX_BATCH, MAX_TRANSACTIONS) pass through.`;

function parseOptions() {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'all' },
      phones: { type: 'string', default: '100000' },
      connections: { type: 'string', default: '64' },
      entry: { type: 'string', default: 'dist' },
      profile: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const fail = (message: string): never => {
    process.stderr.write(`${message}\n\n${USAGE}\n`);
    process.exit(2);
  };
  const scenarios: Scenario[] = values.scenario === 'all' ? [...SCENARIOS] : SCENARIOS.includes(values.scenario as Scenario) ? [values.scenario as Scenario] : fail(`--scenario: unknown "${values.scenario}"`);
  const phones = Number(values.phones);
  if (!Number.isInteger(phones) || phones < 1 || phones > MAX_PHONES) fail(`--phones: a whole number from 1 to ${MAX_PHONES}`);
  const connections = Number(values.connections);
  if (!Number.isInteger(connections) || connections < 1 || connections > phones) fail('--connections: a whole number from 1 to --phones');
  if (values.entry !== 'dist' && values.entry !== 'tsx') fail('--entry: dist or tsx');
  return { scenarios, phones, connections, entry: values.entry as 'dist' | 'tsx', profile: values.profile };
}

async function main(): Promise<void> {
  const options = parseOptions();
  const serverUrl = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  const started = performance.now();
  const durations: Record<string, number> = {};
  const timed = async <T>(phase: string, work: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await work();
    } finally {
      durations[phase] = (performance.now() - t) / 1000;
    }
  };
  const say = (text: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${text}\n`);

  const results: BenchResults = {
    startedAt: new Date().toISOString(),
    command: commandLine(),
    code: await describeCode(),
    options: { scenarios: options.scenarios, phones: options.phones, connections: options.connections },
    machine: await describeMachine(serverUrl),
    ratios: {},
    postgresCpuSeconds: {},
    loadCpuSeconds: {},
    failures: {},
    notes: [],
    durations,
    totalSeconds: 0,
  };

  const databases: BenchDatabase[] = [];
  let service: Service | undefined;
  const cleanup = async () => {
    await service?.stop().catch(() => undefined);
    service = undefined;
    await Promise.all(databases.splice(0).map((db) => db.drop().catch((error: unknown) => say(`could not drop ${db.name}: ${String(error)}`))));
  };
  process.once('SIGINT', () => {
    say('interrupted: stopping the service and dropping the bench databases');
    void cleanup().finally(() => process.exit(130));
  });

  try {
    let entry: ServiceOptions['entry'] = { kind: 'tsx' };
    if (options.entry === 'dist') {
      say('building src/ into bench/.build (tsc)');
      try {
        entry = { kind: 'dist', dir: await timed('build', buildService) };
      } catch (error) {
        results.notes.push(`the build failed, so the service ran under tsx instead: ${firstLine(error)}`);
      }
    }

    const db = await createBenchDatabase(serverUrl);
    databases.push(db);
    const serverCpu = await ServerCpu.find(db);
    if (!serverCpu) results.notes.push('PostgreSQL does not run as a process of this machine: its CPU time is not shown');
    say(`starting the service on ${db.name}`);
    const serviceConfig = loadConfig();
    const t = performance.now();
    service = await timed('start', () => startService({ databaseUrl: db.url, entry, ...(options.profile ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] } : {}) }));
    results.service = {
      command: service.command.replace(`${BUILD_DIR}/`, 'bench/.build/'),
      entry: entry.kind === 'dist' ? 'tsc build of src/' : 'tsx, no build',
      // As the service reads them: these pass through to it, and the rest are its defaults.
      dbPoolSize: serviceConfig.DB_POOL_SIZE,
      maxBatch: serviceConfig.MAX_BATCH,
      maxTransactions: serviceConfig.MAX_TRANSACTIONS,
      startMs: performance.now() - t,
    };
    const live = service;
    const load = { webhookUrl: live.webhookUrl, servicePid: live.pid, db, connections: options.connections, amount: options.phones };

    let baselineDb: BenchDatabase | undefined;
    const baseline = async () => {
      if (baselineDb) return baselineDb;
      baselineDb = await createBenchDatabase(serverUrl, '_sql');
      databases.push(baselineDb);
      await migrateBenchDatabase(baselineDb);
      await prepareBaseline(baselineDb);
      return baselineDb;
    };
    const phase = async (name: string, work: () => Promise<void>) => {
      say(`${name}…`);
      try {
        await db.sql('checkpoint'); // one phase's dirty pages are not written on the next one's clock
        const cpuBefore = serverCpu?.seconds();
        const loadBefore = loadGeneratorCpuSeconds();
        await timed(name, work);
        results.loadCpuSeconds[name] = loadGeneratorCpuSeconds() - loadBefore;
        if (serverCpu && cpuBefore !== undefined) results.postgresCpuSeconds[name] = serverCpu.seconds() - cpuBefore;
      } catch (error) {
        results.failures[name] = error instanceof Error ? error.message : String(error);
        say(`${name} failed: ${firstLine(error)}`);
      }
    };

    if (options.scenarios.includes('webhook')) {
      await phase('webhook', async () => void (results.webhook = await webhookScenario(load)));
      await phase('pgbench', async () => void (results.pgbench = await runPgbench(await baseline(), { clients: options.connections, total: options.phones })));
      if (results.webhook && results.pgbench) results.ratios.serviceOverBaseline = results.webhook.deliveriesPerSecond / results.pgbench.tps;
    }
    if (options.scenarios.includes('hot')) {
      await phase('hot', async () => void (results.hot = await hotScenario(load)));
    }
    if (options.scenarios.includes('bulk')) {
      await phase('bulk', async () => void (results.bulk = await bulkScenario({ ...load, lines: options.phones })));
      await phase('script', async () => void (results.script = await scriptBaseline(await baseline(), { rows: options.phones, chunk: 1000 })));
      if (results.bulk && results.script) results.ratios.bulkOverScript = results.bulk.linesPerSecond / results.script.rowsPerSecond;
    }
    const output = live.output();
    if (output) results.notes.push(`the service wrote (last lines):\n${output.split('\n').slice(-5).join('\n')}`);
  } finally {
    say('stopping the service, dropping the bench databases');
    await timed('cleanup', cleanup);
  }

  results.totalSeconds = (performance.now() - started) / 1000;
  writeResults(results);
  process.stdout.write(`\n${formatReport(results)}\n\n(also written to ${RESULTS_FILE.replace(process.cwd() + '/', '')})\n`);
  const failedChecks = [results.webhook, results.hot, results.bulk].flatMap((f) => f?.checks ?? []).filter((c) => !c.ok);
  if (Object.keys(results.failures).length > 0 || failedChecks.length > 0) process.exitCode = 1;
}

function commandLine(): string {
  const args = process.argv.slice(2).join(' ');
  if (process.env.npm_lifecycle_event === 'bench') return `npm run bench${args ? ` -- ${args}` : ''}`;
  return `tsx bench/run.ts${args ? ` ${args}` : ''}`;
}

const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0];

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
