/**
 * The Linux installer on a real (headless) desktop, as a person runs it from a terminal in their
 * session: it installs for the user, turns autostart on and starts the tray, whose icon then appears
 * in the tray host; the uninstaller takes the icon and every installed file away again. The headless
 * install/upgrade/uninstall details are in test/installers.test.ts.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { userPaths } from '../src/registry/paths.js';
import { ROOT } from './helpers/bridge.js';
import { DESKTOP, startDesktop, type Desktop } from './helpers/desktop.js';
import { describeWith } from './helpers/requirements.js';
import { waitFor } from './helpers/wait.js';
import { run, stopEverythingOf } from './helpers/systemd.js';

describeWith(DESKTOP, 'installing on a desktop', () => {
  let desktop: Desktop;
  let tmp: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    desktop = await startDesktop({ artifactsDir: join(ROOT, 'test/artifacts/installers') });
    tmp = mkdtempSync(join(tmpdir(), 'mcpshare-install-desktop-'));
    const npmCache = execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).trim();
    env = { ...desktop.env, HOME: join(tmp, 'home'), MCPSHARE_BACKEND: 'supervisor', npm_config_cache: npmCache, npm_config_update_notifier: 'false' };
    for (const k of Object.keys(env)) if (/^npm_(?!config_cache$|config_update_notifier$)/i.test(k) || k === 'NODE_OPTIONS') delete env[k];
    execFileSync('mkdir', ['-p', env.HOME!]);
  }, 60_000);

  afterAll(async () => {
    if (env) await stopEverythingOf(env.HOME!);
    await desktop?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }, 30_000);

  test('install starts the tray in the session; uninstall removes it and the installed files', async () => {
    const home = env.HOME!;
    const install = await run(join(ROOT, 'installers/install-linux.sh'), [], env, 180_000, tmp);
    expect(install.code).toBe(0);
    const icon = await desktop.waitTrayIcon(20_000);
    expect(icon.w).toBeGreaterThanOrEqual(16);
    await desktop.screenshot(join(ROOT, 'test/artifacts/installers/installed-tray.png'));
    const pidFile = join(userPaths(env).stateDir, 'tray.pid');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    // The tray runs from the installed app, not from this checkout.
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain(join(home, '.local/share/mcpshare/app/dist/cli.js'));
    const entry = join(home, '.config/autostart/mcpshare-tray.desktop');
    expect(readFileSync(entry, 'utf8')).toContain(join(home, '.local/share/mcpshare/app/dist/cli.js'));
    const items = await desktop.menuItems();
    expect(items[0]!.name).toBe('mcpshare — no servers registered');
    await desktop.closeMenu();

    const uninstall = await run(join(home, '.local/share/mcpshare/app/installers/uninstall-linux.sh'), ['--yes'], env, 120_000, tmp);
    expect(uninstall.code).toBe(0);
    await waitFor(async () => (await desktop.windows()).every((w) => w.instance !== 'systray'), 'tray icon gone', 10_000);
    expect(() => process.kill(pid, 0)).toThrow();
    for (const gone of [entry, join(home, '.local/share/mcpshare'), join(home, '.local/bin/mcpshare'), pidFile]) expect(existsSync(gone)).toBe(false);
  }, 240_000);
});
