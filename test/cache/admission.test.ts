import { describe, expect, it } from 'vitest';
import { createAdmissionFilter } from '../../src/cache/admission.js';

describe('admission on second sight', () => {
  it('admits a key on its second offer within the window, not on its first', () => {
    const filter = createAdmissionFilter(100);
    expect(filter.offer('a')).toBe(false);
    expect(filter.offer('a')).toBe(true);
    expect(filter.offer('b')).toBe(false);
  });

  it('forgets a key after two windows of other offers', () => {
    const filter = createAdmissionFilter(100);
    filter.offer('kept');
    for (let i = 0; i < 250; i += 1) filter.offer(`other-${i}`);
    expect(filter.offer('kept')).toBe(false);
  });

  it('still knows a key offered one window ago (the previous generation counts)', () => {
    const filter = createAdmissionFilter(100);
    filter.offer('kept');
    for (let i = 0; i < 120; i += 1) filter.offer(`other-${i}`);
    expect(filter.offer('kept')).toBe(true);
  });

  it('lets few strangers in by mistake at a full generation', () => {
    const filter = createAdmissionFilter(10_000);
    for (let i = 0; i < 9_999; i += 1) filter.offer(`seen-${i}`);
    let falsePositives = 0;
    for (let i = 0; i < 10_000; i += 1) if (filter.offer(`stranger-${i}`)) falsePositives += 1;
    expect(falsePositives).toBeLessThan(1_000);
  });

  it('refuses a window that is not a positive integer', () => {
    expect(() => createAdmissionFilter(0)).toThrow(TypeError);
    expect(() => createAdmissionFilter(1.5)).toThrow(TypeError);
  });
});
