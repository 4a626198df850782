// A real headless Chromium (Debian's `chromium`, installed by
// scripts/setup.sh) driven by playwright-core: no browser download, the
// machine's own binary. Tests skip with this reason when it is missing.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export const browserSkipReason: string | false = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (Debian's chromium: bash scripts/setup.sh)`;

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    // headless is playwright's own flag; the rest keep the browser off the network and quiet.
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
