import { spawn, spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('has defaults for everything', () => {
    expect(loadConfig({})).toMatchObject({ PORT: 3000, DATA_DIR: './data', MAX_BODY_BYTES: 262144, RATE_LIMIT_PER_MINUTE: 6000, SHUTDOWN_TIMEOUT_MS: 25000 });
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    // Digits only: these would be read as 4256, 1000 and 0.
    ['PORT', '0x10A0'],
    ['PORT', '1e3'],
    ['PORT', ' '],
    ['DATABASE_URL', 'mysql://x'],
    ['DATABASE_URL', 'postgres://postgres:S3cret%zzPw@127.0.0.1/x'],
    ['PUBLIC_URL', 'https://ops:LEAKPASS@sync.example.com'],
    ['PUBLIC_URL', 'https://ops@sync.example.com'],
    ['PUBLIC_URL', 'https://sync.example.com/?x=1'],
    ['PUBLIC_URL', 'https://sync.example.com/?'],
    ['PUBLIC_URL', 'https://sync.example.com/#'],
    ['ADMIN_API_KEY', 'short'],
    ['DEFAULT_REGION', 'GBR'],
    ['DEFAULT_REGION', 'XX'],
    ['MAX_BODY_BYTES', '-1'],
    ['LOG_LEVEL', 'loud'],
  ])('a bad %s (%s) is an error naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^invalid configuration:\\n  ${name}: `));
    expect(() => loadConfig({ [name]: value })).not.toThrow(/LEAKPASS/);
  });

  it('says which URLs DATABASE_URL and PUBLIC_URL take', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://u@h/db' })).toThrow('DATABASE_URL: must be a postgres:// or postgresql:// URL');
    expect(() => loadConfig({ DATABASE_URL: 'not a url' })).toThrow('DATABASE_URL: must be a postgres:// or postgresql:// URL');
    expect(() => loadConfig({ PUBLIC_URL: 'ftp://example.com' })).toThrow('PUBLIC_URL: must be an http:// or https:// URL');
  });

  it('takes a PUBLIC_URL with a path, without its trailing slash', () => {
    expect(loadConfig({ PUBLIC_URL: 'https://example.com/sync/' }).PUBLIC_URL).toBe('https://example.com/sync');
  });

  it('reads DEFAULT_REGION in any case', () => {
    expect(loadConfig({ DEFAULT_REGION: 'gb' }).DEFAULT_REGION).toBe('GB');
  });

  it('treats an empty variable as unset', () => {
    const config = loadConfig({ DATABASE_URL: '', PORT: '' });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.PORT).toBe(3000);
  });

  it('stops the process at start, naming HOST and PORT, when the port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', () => resolve()));
    const port = (taken.address() as AddressInfo).port;
    try {
      const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'src/index.ts'], {
          env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: '', DATA_DIR: 'memory://', LOG_LEVEL: 'silent' },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk) => (stdout += chunk));
        child.stderr.on('data', (chunk) => (stderr += chunk));
        child.on('exit', (status) => resolve({ status, stdout, stderr }));
      });
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(`cannot listen on HOST 127.0.0.1, PORT ${port} (EADDRINUSE): set HOST or PORT`);
      expect(run.stderr).not.toContain('    at ');
      // No account was made whose secrets this start could not have kept.
      expect(run.stdout).not.toContain('Created the account');
    } finally {
      taken.close();
    }
  }, 30_000);

  it('with PORT=0 prints the webhook URL on the port it really took, and that URL takes deliveries', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/index.ts'], {
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', PUBLIC_URL: '', DATABASE_URL: '', DATA_DIR: 'memory://', LOG_LEVEL: 'silent' },
    });
    try {
      let stdout = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk) => {
          stdout += chunk;
          const found = /webhook URL: (\S+)/.exec(stdout);
          if (found) resolve(found[1]!);
        });
        child.on('exit', () => reject(new Error(`exited before printing a webhook URL: ${stdout}`)));
      });
      expect(url).toMatch(/^http:\/\/localhost:[1-9]\d*\/webhooks\/whk_/);
      const res = await fetch(url.replace('localhost', '127.0.0.1'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"contact":{"phone":"+447911123456"}}' });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: 'applied' });
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);

  it.each([
    ['the service', 'src/index.ts', 'contact-sync failed to start: the database cannot be reached'],
    ['npm run db:migrate', 'src/db/migrate-cli.ts', 'migrations not applied: the database cannot be reached'],
  ])('%s says which database it cannot reach, without a stack', (_, entry, message) => {
    // Port 9 (discard) on this machine: nothing listens there.
    const run = spawnSync(process.execPath, ['--import', 'tsx', entry], {
      env: { ...process.env, DATABASE_URL: 'postgres://postgres@127.0.0.1:9/none', LOG_LEVEL: 'silent' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain('check DATABASE_URL');
    expect(run.stderr).not.toContain('    at ');
  });

  it('npm run db:migrate names a bad variable without a stack', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/db/migrate-cli.ts'], { env: { ...process.env, DATABASE_URL: 'mysql://x' }, encoding: 'utf8', timeout: 30_000 });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('DATABASE_URL');
    expect(run.stderr).not.toContain('    at ');
  });

  it('stops the process at start with a message naming the variable', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/index.ts'], {
      env: { ...process.env, PORT: 'not-a-port', DATABASE_URL: '' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('PORT');
    expect(run.stdout).not.toContain('listening');
  });
});
