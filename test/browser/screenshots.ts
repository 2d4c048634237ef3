/**
 * Screenshots of a browser test's steps, kept as artifacts under
 * test-artifacts/browser/<run>/NN-step.png (repository-relative, ignored by git), so a reader
 * can see what the browser saw. Each run starts from an empty folder: a file left by an earlier
 * run never passes for this one's.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';

export const ARTIFACTS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../test-artifacts/browser');

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export interface StepScreenshots {
  readonly dir: string;
  /** Every file taken so far, in order. */
  readonly files: readonly string[];
  /** Saves the page as NN-<step>.png (NN counts from 01) and returns the file. */
  take(page: Page, step: string): Promise<string>;
}

export function createStepScreenshots(run: string): StepScreenshots {
  if (!/^[a-z0-9-]+$/.test(run)) throw new Error('run name must be lower-case letters, digits and hyphens');
  const dir = join(ARTIFACTS_DIR, run);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  return {
    dir,
    files,
    take: async (page, step) => {
      if (!/^[a-z0-9-]+$/.test(step)) throw new Error('step name must be lower-case letters, digits and hyphens');
      const file = join(dir, `${String(files.length + 1).padStart(2, '0')}-${step}.png`);
      await page.screenshot({ path: file, fullPage: true });
      files.push(file);
      return file;
    },
  };
}

/** The file is a PNG with a picture in it: the signature, then an IHDR with a non-zero size. */
export function expectPngFile(file: string): void {
  const bytes = readFileSync(file);
  expect(bytes.subarray(0, 8).equals(PNG_SIGNATURE), `${file} is not a PNG`).toBe(true);
  expect(bytes.subarray(12, 16).toString('latin1')).toBe('IHDR');
  expect(bytes.readUInt32BE(16)).toBeGreaterThan(0);
  expect(bytes.readUInt32BE(20)).toBeGreaterThan(0);
  // A blank page compresses to a few hundred bytes; every step shows text.
  expect(bytes.length).toBeGreaterThan(2_000);
}
