/**
 * The system's headless Chromium (Debian's `chromium` package, which `.ci/run` installs), driven
 * with puppeteer-core: no browser is downloaded. A machine without it fails the test that needs
 * it, with the command that fixes it; it is never skipped.
 */
import { existsSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';
import { PNG } from 'pngjs';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function chromiumPath(): string {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`CHROMIUM_PATH=${fromEnv} does not exist`);
    return fromEnv;
  }
  const found = CANDIDATES.find((p) => existsSync(p));
  if (found === undefined) {
    throw new Error('no Chromium found (looked for /usr/bin/chromium): install it with "apt-get install -y chromium" (as .ci/run does) or set CHROMIUM_PATH');
  }
  return found;
}

export function launchChromium(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // Root in a container has no user namespace for the sandbox; /dev/shm is small there too.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--font-render-hinting=none'],
  });
}

/**
 * How much of a PNG is not its background colour, how many distinct colours it has, and the share
 * of its pixels in each of `colours` (exact `#rrggbb`: the inside of a filled SVG rect is exact).
 */
export function pngInk(png: Uint8Array, colours: readonly string[] = []): { inkShare: number; colours: number; width: number; height: number; shareOf: Record<string, number> } {
  const image = PNG.sync.read(Buffer.from(png));
  const { data, width, height } = image;
  const counts = new Map<number, number>();
  for (let i = 0; i < data.length; i += 4) {
    const key = ((data[i] ?? 0) << 16) | ((data[i + 1] ?? 0) << 8) | (data[i + 2] ?? 0);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const background = Math.max(...counts.values());
  const pixels = width * height;
  const shareOf: Record<string, number> = {};
  for (const c of colours) shareOf[c] = pixels === 0 ? 0 : (counts.get(Number.parseInt(c.slice(1), 16)) ?? 0) / pixels;
  return { inkShare: pixels === 0 ? 0 : (pixels - background) / pixels, colours: counts.size, width, height, shareOf };
}
